//! ACL policies: Vault's policy language (HCL or JSON), the allow/deny decision, the built-in
//! `root` and `default` policies, and their storage with the `sys/policy` and
//! `sys/policies/acl` endpoints.
//!
//! The decision ([`Acl::decide`]) is a pure function of the parsed policies and the request;
//! it does no I/O and reads no clock. Only [`PolicyStore`] touches storage.

mod acl;
mod parse;
mod store;

pub use acl::{Acl, Decision};
pub use parse::{Capability, PathRule, Policy};
pub use store::{DEFAULT_POLICY, PolicyStore};

#[cfg(test)]
mod tests;
