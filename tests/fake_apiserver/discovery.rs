//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/GROUP[/VERSION]`, and the
//! aggregated form (`apidiscovery.k8s.io/v2`) that kube 5's `Discovery::run_aggregated` requests.

use serde_json::{Value, json};

use super::resources::{self, ISTIO_SECURITY, RESOURCES, ResourceType};

/// Content type of an aggregated discovery response.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Returns whether an `Accept` header requests aggregated discovery. Only v2 is served, not v2beta1.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Returns whether a group is served now.
pub fn serves_group(group: &str, istio_crds: bool) -> bool {
    group.is_empty()
        || (group != ISTIO_SECURITY || istio_crds) && resources::groups().contains(&group)
}

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0+fake-apiserver",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": server_address }],
    })
}

pub fn group_list(istio_crds: bool) -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .filter(|g| serves_group(g, istio_crds))
        .map(group_entry)
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `/apis/GROUP`: an `APIGroup`.
pub fn api_group(group: &str) -> Value {
    let mut doc = group_entry(group);
    if let Some(map) = doc.as_object_mut() {
        // Only the standalone document is typed; entries of an APIGroupList are not.
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    doc
}

fn group_entry(group: &str) -> Value {
    let versions = group_versions(group);
    let entry = |v: &str| json!({ "groupVersion": format!("{group}/{v}"), "version": v });
    json!({
        "name": group,
        "versions": versions.iter().map(|v| entry(v)).collect::<Vec<_>>(),
        "preferredVersion": entry(versions.first().copied().unwrap_or("v1")),
    })
}

/// `/api/v1` or `/apis/GROUP/VERSION`: an `APIResourceList`, or `None` when not served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.versions.contains(&version))
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for ty in types {
        let mut entry = json!({
            "name": ty.plural,
            "singularName": ty.singular,
            "namespaced": ty.namespaced,
            "kind": ty.kind,
            "verbs": ty.verbs,
        });
        if !ty.short_names.is_empty() {
            entry["shortNames"] = json!(ty.short_names);
        }
        if !ty.categories.is_empty() {
            entry["categories"] = json!(ty.categories);
        }
        resources.push(entry);
        for (sub, verbs) in ty.subresources {
            resources.push(json!({
                "name": format!("{}/{sub}", ty.plural),
                "singularName": "",
                "namespaced": ty.namespaced,
                "kind": ty.kind,
                "verbs": verbs,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// Builds the aggregated `APIGroupDiscoveryList` for `/api` (core) or `/apis` (every other group).
pub fn aggregated(core: bool, istio_crds: bool) -> Value {
    let groups: Vec<&str> = if core {
        vec![""]
    } else {
        resources::groups()
            .into_iter()
            .filter(|g| serves_group(g, istio_crds))
            .collect()
    };
    let items: Vec<Value> = groups.into_iter().map(aggregated_group).collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_group(group: &str) -> Value {
    let versions: Vec<Value> = group_versions(group)
        .into_iter()
        .map(|version| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.versions.contains(&version))
                .map(|ty| {
                    let kind = json!({ "group": group, "version": version, "kind": ty.kind });
                    let subresources: Vec<Value> = ty
                        .subresources
                        .iter()
                        .map(|(sub, verbs)| json!({ "subresource": sub, "responseKind": kind, "verbs": verbs }))
                        .collect();
                    let mut entry = json!({
                        "resource": ty.plural,
                        "responseKind": kind,
                        "scope": if ty.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": ty.singular,
                        "verbs": ty.verbs,
                    });
                    if !ty.short_names.is_empty() {
                        entry["shortNames"] = json!(ty.short_names);
                    }
                    if !ty.categories.is_empty() {
                        entry["categories"] = json!(ty.categories);
                    }
                    if !subresources.is_empty() {
                        entry["subresources"] = json!(subresources);
                    }
                    entry
                })
                .collect();
            json!({ "version": version, "resources": resources, "freshness": "Current" })
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({ "creationTimestamp": null })
    } else {
        json!({ "name": group, "creationTimestamp": null })
    };
    json!({ "metadata": metadata, "versions": versions })
}

/// Returns a group's served versions, preferred first.
fn group_versions(group: &str) -> Vec<&'static str> {
    RESOURCES
        .iter()
        .find(|r| r.group == group)
        .map(|r| r.versions.to_vec())
        .unwrap_or_default()
}
