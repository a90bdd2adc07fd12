//! hvac against the dev server, and raw HTTP for the wire conventions and bad input.

use crate::harness::Dev;

#[test]
fn hvac_drives_sys_kv_policies_tokens_and_approle() {
    let dev = Dev::start();
    let out = dev.python("hvac_suite.py", &[]);
    assert!(
        out.code == 0 && out.stdout_str().contains("OK"),
        "hvac suite failed:\n{}\n{}",
        out.stdout_str(),
        out.stderr
    );
}

#[test]
fn wire_conventions_and_bad_input() {
    let dev = Dev::start();
    let out = dev.python("wire.py", &[]);
    assert!(
        out.code == 0 && out.stdout_str().contains("OK"),
        "wire suite failed:\n{}\n{}",
        out.stdout_str(),
        out.stderr
    );
}
