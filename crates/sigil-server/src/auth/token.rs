//! The token store: service tokens, their accessors, TTLs, uses and the parent → child tree.

use serde::{Deserialize, Serialize};

/// A stored token, as the router and handlers see the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// The accessor (safe to show).
    pub accessor: String,
    /// Policies attached to the token.
    pub policies: Vec<String>,
}
