//! The `sigil` command.

fn main() {}
