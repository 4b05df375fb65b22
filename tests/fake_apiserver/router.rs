//! Authentication and routing of one request to discovery, get, list, watch or logs.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, header};

use super::api::{self, Collection};
use super::discovery;
use super::http::{self, Body};
use super::logs::{self, LogQuery};
use super::resources;
use super::state::ClusterState;
use super::status;

/// What every request of one server needs.
pub struct Context {
    pub state: ClusterState,
    pub token: String,
    pub user: String,
    pub address: String,
}

#[allow(clippy::unused_async)] // hyper's service_fn wants a future.
pub async fn route(
    ctx: Arc<Context>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    Ok(respond(&ctx, &req))
}

fn respond(ctx: &Context, req: &Request<Incoming>) -> Response<Body> {
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == ctx.token);
    if !authorized {
        return http::json(401, &status::unauthorized());
    }
    if req.method() != Method::GET {
        return http::json(405, &status::method_not_allowed());
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = parse_query(req.uri().query().unwrap_or(""));
    let segments: Vec<&str> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let istio = ctx.state.istio_crds();
    let aggregated = discovery::wants_aggregated(accept);
    match segments.as_slice() {
        ["version"] => http::json(200, &discovery::version()),
        ["api"] if aggregated => http::bytes(
            200,
            discovery::AGGREGATED_V2,
            discovery::aggregated(true, istio).to_string().into_bytes(),
        ),
        ["api"] => http::json(200, &discovery::core_versions(&ctx.address)),
        ["apis"] if aggregated => http::bytes(
            200,
            discovery::AGGREGATED_V2,
            discovery::aggregated(false, istio).to_string().into_bytes(),
        ),
        ["apis"] => http::json(200, &discovery::group_list(istio)),
        ["api", "v1", rest @ ..] => resource(ctx, "", "v1", rest, &query),
        ["apis", group, rest @ ..] if discovery::serves_group(group, istio) => match rest {
            [] => http::json(200, &discovery::api_group(group)),
            [version, rest @ ..] => resource(ctx, group, version, rest, &query),
        },
        _ => http::json(404, &status::no_such_resource()),
    }
}

/// Everything below `/api/v1` or `/apis/GROUP/VERSION`.
fn resource(
    ctx: &Context,
    group: &str,
    version: &str,
    rest: &[&str],
    query: &[(String, String)],
) -> Response<Body> {
    let state = &ctx.state;
    let find = |plural: &str| resources::find(group, version, plural);
    let (ty, namespace, name) = match rest {
        [] => {
            return discovery::resource_list(group, version).map_or_else(
                || http::json(404, &status::no_such_resource()),
                |list| http::json(200, &list),
            );
        }
        [plural] => (find(plural), "", None),
        [plural, name] if find(plural).is_some_and(|t| !t.namespaced) => {
            (find(plural), "", Some(*name))
        }
        ["namespaces", ns, plural] => (find(plural).filter(|t| t.namespaced), *ns, None),
        ["namespaces", ns, plural, name] => {
            (find(plural).filter(|t| t.namespaced), *ns, Some(*name))
        }
        ["namespaces", ns, "pods", pod, "log"] if group.is_empty() => {
            return match LogQuery::parse(query) {
                Ok(q) => logs::serve(state, &ctx.user, ns, pod, &q),
                Err(message) => http::json(400, &status::bad_request(&message)),
            };
        }
        _ => (None, "", None),
    };
    let Some(ty) = ty else {
        return http::json(404, &status::no_such_resource());
    };
    if let Some(name) = name {
        return api::get(state, ty, version, namespace, name);
    }
    let collection = match Collection::new(ty, version, namespace, query) {
        Ok(c) => c,
        Err(message) => return http::json(400, &status::bad_request(&message)),
    };
    let watching = query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    if watching {
        api::watch(state, collection, query)
    } else {
        api::list(state, &collection, query)
    }
}

/// Splits and percent-decodes a query string.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
