//! One module per group of subcommands. Each takes its parsed arguments and returns a
//! `CliResult`; printing of errors and exit codes happens once, in `main`.

pub(crate) mod age;
pub(crate) mod agent;
pub(crate) mod audit;
pub(crate) mod client;
pub(crate) mod demo;
pub(crate) mod digest;
pub(crate) mod encode;
pub(crate) mod identity;
pub(crate) mod keygen;
pub(crate) mod password;
pub(crate) mod server;
pub(crate) mod sign;
