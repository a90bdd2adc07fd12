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

#[test]
fn tls_1_2_and_1_3_only_and_http_2() {
    let dev = Dev::start();
    let addr = dev.env["SIGIL_ADDR"].clone();
    let hostport = addr.trim_start_matches("https://").to_owned();
    let ca = dev.env["SIGIL_CACERT"].clone();
    for (flag, ok) in [("-tls1_3", true), ("-tls1_2", true), ("-tls1_1", false)] {
        let out = crate::support::run_with_stdin(
            crate::support::tool("openssl").args([
                "s_client",
                "-connect",
                &hostport,
                flag,
                "-CAfile",
                &ca,
                "-verify_return_error",
            ]),
            b"",
        );
        assert_eq!(out.code == 0, ok, "openssl {flag}: {}", out.stderr);
    }
    let out = crate::support::run(crate::support::tool("curl").args([
        "-sS",
        "--http2",
        "--cacert",
        &ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("{addr}/v1/sys/health"),
    ]));
    assert_eq!(out.stdout_str(), "2", "{}", out.stderr);
}
