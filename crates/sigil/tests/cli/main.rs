//! The `sigil` CLI's own behaviour: bad input of every kind gets a non-zero exit, a one-line
//! error naming the problem, and leaves no output file; help and exit codes are as documented.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "../support/mod.rs"]
mod support;

mod age;
mod encode;
mod keys;
mod misc;
