//! The node agent end to end, through unmodified SPIFFE clients: `sigil dev`'s agent serves
//! py-spiffe (X509- and JWT-SVIDs, bundles including a federated trust domain's, rotation on
//! an open stream) and spiffe-tls completes mutual TLS with a Sigil SDK server that
//! authorizes it by SPIFFE ID; a separate `sigil agent run` keeps serving from its cache
//! when its server stops, refuses callers with no entry and callers whose process is gone,
//! and requires the security header.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use sigil_core::encoding::Pem;
use sigil_core::spiffe::tls::{MemorySource, peer_id, server_config};
use sigil_core::spiffe::{Authorizer, SpiffeId, TrustDomain, X509Bundle, X509Svid};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::harness::{Dev, passed};
use crate::support::{self, Run};

/// How long an agent gets to serve an expected identity.
const WAIT: Duration = Duration::from_secs(60);

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

fn uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

fn gid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().gid()
}

/// The Workload API client script shared with sigil-agent's own tests.
fn workload_client(socket: &Path, command: &str) -> Run {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sigil-agent/tests/py/workload_client.py");
    let mut cmd = support::python();
    cmd.arg(script)
        .arg(format!("unix://{}", socket.display()))
        .arg(command);
    support::run(&mut cmd)
}

/// The first JSON line `fetch` prints once the agent serves `spiffe_id`, within [`WAIT`].
fn wait_for_identity(socket: &Path, spiffe_id: &str, bundles: usize) -> Value {
    let start = Instant::now();
    loop {
        let run = workload_client(socket, "fetch");
        if run.code == 0 {
            let seen = json(&run.stdout);
            if seen["svid"]["spiffe_id"] == spiffe_id
                && seen["bundles"].as_object().map_or(0, |b| b.len()) >= bundles
            {
                return seen;
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "the agent did not serve {spiffe_id} with {bundles} bundle(s): {}",
            run.stderr
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn socket_of(dev: &Dev) -> PathBuf {
    PathBuf::from(
        dev.env["SPIFFE_ENDPOINT_SOCKET"]
            .strip_prefix("unix://")
            .unwrap(),
    )
}

/// A Sigil SDK server (sigil-core's rustls configuration) with an SVID minted by `dev`,
/// authorizing exactly `allowed`: it greets one client with the SPIFFE ID it saw. Returns
/// its port and the thread (ended after one connection or a minute).
fn sdk_server(dev: &Dev, allowed: &str) -> (u16, JoinHandle<()>) {
    let minted = json(
        &dev.sigil(&[
            "x509",
            "mint",
            "--spiffe-id",
            "spiffe://sigil.internal/sdk-server",
        ])
        .ok(),
    );
    let text = |k: &str| minted[k].as_str().unwrap().to_owned();
    let leaf = Pem::decode_expecting(&text("svid"), "CERTIFICATE").unwrap();
    let key = Pem::decode(&text("private_key")).unwrap();
    let svid = X509Svid::parse(&leaf, &key.der).unwrap();
    let td = TrustDomain::parse("sigil.internal").unwrap();
    let authorities = text("bundle")
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(|block| Pem::decode_expecting(block, "CERTIFICATE").unwrap())
        .collect();
    let source = Arc::new(MemorySource::new(
        svid,
        [X509Bundle::new(td, authorities).unwrap()],
    ));
    let authorizer = Authorizer::exact(SpiffeId::parse(allowed).unwrap());
    let config = Arc::new(server_config(source, authorizer).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        let tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(_) if start.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return,
            }
        };
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            if tls.conn.complete_io(&mut tls.sock).is_err() {
                return; // refused: the client's ID is not the allowed one
            }
        }
        let id = peer_id(tls.conn.peer_certificates().unwrap()).unwrap();
        let _ = tls.write_all(format!("hello {id}").as_bytes());
        let _ = tls.flush();
        let mut rest = [0u8; 1];
        let _ = tls.read(&mut rest);
    });
    (port, thread)
}

#[test]
fn the_dev_agent_serves_py_spiffe_spiffe_tls_and_a_federated_bundle() {
    let b = Dev::start_with(&[
        "--trust-domain",
        "b.test",
        "--bundle-endpoint",
        "127.0.0.1:0",
    ]);
    let a = Dev::start();
    let socket = socket_of(&a);
    let expected = format!("spiffe://sigil.internal/dev/uid-{}", uid());
    wait_for_identity(&socket, &expected, 1);

    // A federates with B, and the dev entry with b.test.
    let doc = a.dir.join("b-bundle.json");
    std::fs::write(
        &doc,
        b.sigil(&["bundle", "show", "--format", "spiffe"]).ok(),
    )
    .unwrap();
    a.sigil(&[
        "write",
        "spiffe/federation/b.test",
        &format!(
            "bundle_endpoint_url={}",
            b.banner_value("SPIFFE bundle endpoint:")
        ),
        "endpoint_spiffe_id=spiffe://b.test/sigil/server",
        &format!("trust_bundle=@{}", doc.display()),
    ])
    .ok();
    let entries = json(&a.sigil(&["entry", "list"]).ok());
    let entry = entries["keys"][0].as_str().unwrap().to_owned();
    a.sigil(&["entry", "update", &entry, "--federates-with", "b.test"])
        .ok();
    wait_for_identity(&socket, &expected, 2);

    let (allow, allow_thread) = sdk_server(&a, &expected);
    let (deny, deny_thread) = sdk_server(&a, "spiffe://sigil.internal/someone-else");
    let leaf_out = a.dir.join("leaf.pem");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/agent_e2e.py");
    let mut cmd = support::python();
    cmd.arg(script)
        .envs(&a.env)
        .env("EXPECTED_ID", &expected)
        .env("FED_TD", "b.test")
        .env("ALLOW_PORT", allow.to_string())
        .env("DENY_PORT", deny.to_string())
        .env("LEAF_OUT", &leaf_out);
    passed(
        "the dev agent through py-spiffe and spiffe-tls",
        &support::run(&mut cmd),
    );
    allow_thread.join().unwrap();
    deny_thread.join().unwrap();

    // The served leaf by the X509-SVID rules, read with x509-parser.
    let pem = std::fs::read_to_string(&leaf_out).unwrap();
    let der = Pem::decode_expecting(&pem, "CERTIFICATE").unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert_eq!(san.value.general_names.len(), 1);
    assert!(!cert.is_ca());
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);

    // A shorter lifetime is picked up at the next sync; the open stream sees the new SVID.
    a.sigil(&["entry", "update", &entry, "--x509-svid-ttl", "20s"])
        .ok();
    let run = workload_client(&socket, "stream");
    assert_eq!(
        run.code,
        0,
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        run.stderr
    );
}

/// The crates.io `spiffe` client against the dev agent: the X.509-SVID and its context, a
/// JWT-SVID (checked against the JWT bundle's key id), the JWT bundles, and validation.
#[test]
fn the_spiffe_crate_against_the_dev_agent() {
    let dev = Dev::start();
    let socket = socket_of(&dev);
    let expected = format!("spiffe://sigil.internal/dev/uid-{}", uid());
    wait_for_identity(&socket, &expected, 1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let step = Duration::from_secs(20);
        let client = tokio::time::timeout(
            step,
            spiffe::WorkloadApiClient::connect_to(format!("unix:{}", socket.display())),
        )
        .await
        .unwrap()
        .unwrap();
        let svid = client.fetch_x509_svid().await.unwrap();
        assert_eq!(svid.spiffe_id().to_string(), expected);
        let context = client.fetch_x509_context().await.unwrap();
        assert_eq!(context.svids().len(), 1);
        let td = spiffe::TrustDomain::new("sigil.internal").unwrap();
        assert!(
            !context
                .bundle_set()
                .get(&td)
                .unwrap()
                .authorities()
                .is_empty()
        );

        let jwt = client.fetch_jwt_svid(["db"], None).await.unwrap();
        assert_eq!(jwt.spiffe_id().to_string(), expected);
        assert_eq!(jwt.audience(), ["db"]);
        let bundles = client.fetch_jwt_bundles().await.unwrap();
        let bundle = bundles.get(&td).unwrap();
        assert!(bundle.find_jwt_authority(jwt.key_id()).is_some());
        let validated = client.validate_jwt_token("db", jwt.token()).await.unwrap();
        assert_eq!(validated.spiffe_id().to_string(), expected);
        assert!(
            client
                .validate_jwt_token("other", jwt.token())
                .await
                .is_err()
        );
    });
}

/// A `sigil agent run` process, killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_separate_agent_serves_from_its_cache_while_the_server_is_down() {
    let mut dev = Dev::start();
    let join = json(
        &dev.sigil(&[
            "token",
            "generate",
            "--spiffe-id",
            "spiffe://sigil.internal/node/e2e",
        ])
        .ok(),
    );
    dev.sigil(&[
        "entry",
        "create",
        "--spiffe-id",
        "spiffe://sigil.internal/e2e",
        "--parent-id",
        "spiffe://sigil.internal/node/e2e",
        "--selector",
        &format!("unix:uid:{}", uid()),
        "--selector",
        &format!("unix:gid:{}", gid()),
    ])
    .ok();
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("api.sock");
    let _agent = Agent(
        support::sigil()
            .args(["agent", "run", "--sync-interval", "1", "--join-token"])
            .arg(join["token"].as_str().unwrap())
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .envs(dev.env.iter().filter(|(k, _)| k.starts_with("SIGIL_")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let before = wait_for_identity(&socket, "spiffe://sigil.internal/e2e", 1);

    // The server knows both agents (the dev one and this one) by their IDs.
    let agents = json(&dev.sigil(&["agent", "list"]).ok());
    assert_eq!(agents["keys"].as_array().unwrap().len(), 2, "{agents}");
    assert!(
        agents["key_info"]
            .as_object()
            .unwrap()
            .values()
            .any(|a| a["aliases"] == serde_json::json!(["spiffe://sigil.internal/node/e2e"])),
        "{agents}"
    );

    // Raw gRPC: no security header → InvalidArgument.
    let raw = String::from_utf8(workload_client(&socket, "raw").ok()).unwrap();
    assert!(
        raw.contains("security header missing from request"),
        "{raw}"
    );

    // A caller that lacks one of the entry's selectors (same uid, another gid) →
    // PermissionDenied "no identity issued".
    if uid() == 0 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sigil-agent/tests/py/workload_client.py");
        let mut cmd = support::python();
        cmd.arg(script)
            .arg(format!("unix://{}", socket.display()))
            .arg("denied")
            .gid(65534);
        let out = json(&support::run(&mut cmd).ok());
        assert_eq!(out["code"], "PERMISSION_DENIED", "{out}");
        assert_eq!(out["message"], "no identity issued", "{out}");
    } else {
        eprintln!("not root: the other-gid check needs to start a process with another gid");
    }

    // A caller whose process is gone (the connecting process exited, a child inherited the
    // socket) is refused; the same raw call from a live caller is served.
    let pid_gone = |mode: &[&str]| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/server/py/pid_gone.py");
        let mut cmd = support::python();
        cmd.arg(script).arg(&socket).args(mode);
        json(&support::run(&mut cmd).ok())
    };
    let alive = pid_gone(&["alive"]);
    assert!(alive["message_bytes"].as_u64().unwrap_or(0) > 0, "{alive}");
    let gone = pid_gone(&[]);
    assert_eq!(gone["grpc-status"], "14", "Unavailable: {gone}");
    assert_eq!(
        gone["grpc-message"], "workload%20attestation%20failed",
        "{gone}"
    );

    // The server stops; the agent keeps serving the SVID it has.
    dev.stop();
    std::thread::sleep(Duration::from_secs(2));
    let after = wait_for_identity(&socket, "spiffe://sigil.internal/e2e", 1);
    assert_eq!(after["svid"]["serial"], before["svid"]["serial"]);
}
