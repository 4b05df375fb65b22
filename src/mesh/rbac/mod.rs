//! AuthorizationPolicy as Envoy enforces it: istiod's translation into RBAC filter configs
//! ([`build`]), and Envoy's RBAC engine evaluating a request against them.

pub mod builder;
pub mod config;
mod matchers;
mod rule;

pub use builder::{BuildSettings, Built, ExtAuthzProvider, ProviderKind, ScopedPolicy, build};
