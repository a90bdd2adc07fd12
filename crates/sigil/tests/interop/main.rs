//! Interoperability with the real peer tools a user would run beside Sigil: Debian's `age`,
//! `openssl` and `minisign`. Each module checks both directions: what the peer makes, we read;
//! what we make, the peer reads. The tools are installed by scripts/test.sh; a missing tool
//! fails the suite rather than skipping it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../support/mod.rs"]
mod support;

mod age;
mod minisign;
mod openssl;
