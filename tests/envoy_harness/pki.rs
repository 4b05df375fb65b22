//! A throwaway certificate authority for one Envoy run: the server certificate of the inbound
//! listener and one client certificate per peer principal, each with the SPIFFE URI SAN that Envoy's
//! RBAC `authenticated` matcher reads.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The CA certificate, the listener's certificate and the client certificates of one run.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub server: CertPair,
    /// Client certificates by URI SAN (`spiffe://…`).
    pub clients: BTreeMap<String, CertPair>,
}

/// Mints a CA, a server certificate for `server_uri` valid for 127.0.0.1 and `server_names`, and one
/// client certificate per entry of `client_uris`.
pub fn mint(server_uri: &str, server_names: &[String], client_uris: &[String]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "idflow test CA");
    let ca_key = KeyPair::generate().expect("ECDSA key generation");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-signed CA");

    let server = leaf(&ca, server_uri, server_names, true);
    let clients = client_uris
        .iter()
        .map(|uri| (uri.clone(), leaf(&ca, uri, &[], false)))
        .collect();
    Pki {
        ca_pem: ca.pem(),
        server,
        clients,
    }
}

fn leaf(
    ca: &CertifiedIssuer<'_, KeyPair>,
    uri: &str,
    dns_names: &[String],
    server: bool,
) -> CertPair {
    let mut params = CertificateParams::new(dns_names.to_vec())
        .unwrap_or_else(|error| panic!("bad DNS names {dns_names:?}: {error}"));
    let uri_san = uri
        .try_into()
        .unwrap_or_else(|error| panic!("bad URI SAN {uri:?}: {error}"));
    params.subject_alt_names.push(SanType::URI(uri_san));
    if server {
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    } else {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    params.distinguished_name = rcgen::DistinguishedName::new();
    let key = KeyPair::generate().expect("ECDSA key generation");
    let cert = params
        .signed_by(&key, ca)
        .unwrap_or_else(|error| panic!("cannot sign the certificate for {uri:?}: {error}"));
    CertPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}
