//! ACL policies: Vault's policy language (HCL or JSON), the decision function, and the store
//! behind `sys/policy` and `sys/policies/acl`.
//!
//! A policy is a list of path rules: a pattern (`*` as the last character is a prefix match,
//! `+` matches exactly one path segment), capabilities, and optional parameter constraints.
//! [`acl::Acl`] merges a token's policies and answers one question, purely: may this
//! operation on this path with these parameters go ahead?

pub mod acl;
mod parse;
mod store;

pub use acl::{Acl, Decision};
pub use parse::{Capability, Policy, Rule};
pub use store::PolicyStore;

/// The built-in `default` policy attached to every token unless asked otherwise: a token may
/// look itself up, renew and revoke itself, and ask what it can do.
pub const DEFAULT_POLICY: &str = r#"# Every token may inspect, renew and revoke itself.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# And ask which capabilities it has on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Lease and tool endpoints Vault's default policy also opens.
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/leases/lookup" {
  capabilities = ["update"]
}
path "sys/tools/hash" {
  capabilities = ["update"]
}
path "sys/tools/hash/*" {
  capabilities = ["update"]
}
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
"#;
