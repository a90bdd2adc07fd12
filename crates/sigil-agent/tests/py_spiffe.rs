//! The PyPI `spiffe` client (py-spiffe 0.3.2, on grpcio's C-core gRPC stack and the
//! `cryptography` X.509 parser) against Sigil's Workload API, served in-process on a
//! temporary socket with an SVID for this test process's own uid.
//!
//! Needs `SIGIL_TEST_PYTHON`: a Python with `scripts/test-requirements.txt` installed
//! (`scripts/test.sh` sets it up).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use serde_json::Value;
use sigil_agent::{Cache, CacheState, Claims, Entry, JwtAuthority, JwtError, SelectorSet};
use sigil_core::SecretBytes;
use sigil_core::spiffe::{SpiffeId, TrustDomain};
use support::{Ca, own_uid};

/// How long one Python run may take.
const PY_TIMEOUT: Duration = Duration::from_secs(60);

const WORKLOAD: &str = "spiffe://example.org/workload";

fn python() -> Command {
    let python = std::env::var("SIGIL_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "SIGIL_TEST_PYTHON is not set: point it at a Python with scripts/test-requirements.txt \
             installed (scripts/test.sh does this; by hand: .test-env/venv/bin/python)"
        )
    });
    Command::new(python)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/workload_client.py")
}

/// A stand-in for the server's JWT authority: mints real ES256 JWT-SVIDs (so the client
/// can check them against the JWT bundle) and validates only the tokens it minted.
struct TestJwt {
    key: EcdsaKeyPair,
    minted: Mutex<HashMap<String, Claims>>,
}

impl TestJwt {
    const KID: &'static str = "test-key-1";

    fn new() -> Self {
        Self {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            minted: Mutex::new(HashMap::new()),
        }
    }

    /// The JWT bundle: a JWKS with the one public key.
    fn jwks(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": Self::KID,
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }]})
        .to_string()
        .into_bytes()
    }
}

#[async_trait::async_trait]
impl JwtAuthority for TestJwt {
    async fn mint(&self, spiffe_id: &SpiffeId, audiences: &[String]) -> Result<String, JwtError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "ES256", "kid": Self::KID, "typ": "JWT"});
        let claims = serde_json::json!({
            "sub": spiffe_id.as_str(), "aud": audiences, "iat": now, "exp": now + 300,
        });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        let token = format!("{input}.{}", B64.encode(signature.as_ref()));
        let Value::Object(claims) = claims else {
            unreachable!()
        };
        self.minted.lock().unwrap().insert(token.clone(), claims);
        Ok(token)
    }

    async fn validate(&self, token: &str, audience: &str) -> Result<(SpiffeId, Claims), JwtError> {
        let claims = self.minted.lock().unwrap().get(token).cloned();
        let claims = claims.ok_or_else(|| JwtError::Invalid("unknown token".into()))?;
        let audiences = claims["aud"].as_array().unwrap();
        if !audiences.iter().any(|a| a == audience) {
            return Err(JwtError::Invalid(format!(
                "audience {audience:?} not in the token"
            )));
        }
        let sub = SpiffeId::parse(claims["sub"].as_str().unwrap()).unwrap();
        Ok((sub, claims))
    }
}

fn state(ca: &Ca, leaf: (Vec<u8>, SecretBytes), selectors: &SelectorSet) -> CacheState {
    let mut state = CacheState::empty(TrustDomain::parse("example.org").unwrap());
    let entry = Entry::new(
        SpiffeId::parse(WORKLOAD).unwrap(),
        selectors.clone(),
        vec![leaf.0],
        leaf.1,
    )
    .unwrap();
    state.entries = vec![entry];
    state.x509_bundle = vec![ca.der()];
    state.federated_x509_bundles.insert(
        TrustDomain::parse("partner.test").unwrap(),
        vec![Ca::new().der()],
    );
    state
}

/// A Python client run, its stdout lines delivered as JSON values.
struct PyRun {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl PyRun {
    fn start(socket: &Path, command: &str) -> Self {
        let mut child = python()
            .arg(script())
            .arg(format!("unix://{}", socket.display()))
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python client");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next JSON line, waiting at most `PY_TIMEOUT`.
    fn next(&mut self) -> Value {
        match self.lines.recv_timeout(PY_TIMEOUT) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            Err(e) => {
                let _ = self.child.kill();
                panic!("the Python client printed nothing more ({e})");
            }
        }
    }

    /// Waits (bounded) for the client to exit and asserts it succeeded.
    fn finish(mut self) {
        let deadline = std::time::Instant::now() + PY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the Python client failed: {status}");
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the Python client did not exit");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `command` to completion off the async runtime and returns its lines.
async fn run(socket: &Path, command: &'static str, count: usize) -> Vec<Value> {
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut py = PyRun::start(&socket, command);
        let lines = (0..count).map(|_| py.next()).collect();
        py.finish();
        lines
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_spiffe_against_the_workload_api() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent/api.sock");
    std::fs::create_dir(dir.path().join("agent")).unwrap();
    let ca = Ca::new();
    let mine: SelectorSet = [format!("unix:uid:{}", own_uid()).parse().unwrap()]
        .into_iter()
        .collect();
    let jwt = Arc::new(TestJwt::new());
    let mut initial = state(&ca, ca.leaf(WORKLOAD, 1001), &mine);
    initial
        .jwt_bundles
        .insert(TrustDomain::parse("example.org").unwrap(), jwt.jwks());
    let cache = Arc::new(Cache::new(initial));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let cache = cache.clone();
        let socket = socket.clone();
        let jwt = jwt.clone();
        async move {
            sigil_agent::serve(&socket, cache, jwt, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    // The client checks the socket exists when it is built.
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(socket.exists(), "the server did not create its socket");

    // fetch_x509_svid, fetch_x509_context, fetch_x509_bundles.
    let fetched = &run(&socket, "fetch", 1).await[0];
    let svid = &fetched["svid"];
    assert_eq!(svid["spiffe_id"], WORKLOAD);
    assert_eq!(svid["serial"], 1001);
    assert_eq!(svid["chain"], 1);
    assert_eq!(svid["key_matches_leaf"], true);
    assert_eq!(&fetched["context_default"], svid);
    assert_eq!(fetched["context_svids"], serde_json::json!([WORKLOAD]));
    assert_eq!(fetched["leaf_verified_by_bundle"], true);
    let bundles = serde_json::json!({"example.org": 1, "partner.test": 1});
    assert_eq!(fetched["bundles"], bundles);
    // The SVID response carries only bundles the entry federates with: none here.
    assert_eq!(
        fetched["context_bundles"],
        serde_json::json!({"example.org": 1})
    );

    // Raw calls: the security header is required, WIT is not implemented.
    let raw = run(&socket, "raw", 4).await;
    for call in &raw[..3] {
        assert_eq!(call["code"], "INVALID_ARGUMENT", "{call}");
        assert_eq!(
            call["message"], "security header missing from request",
            "{call}"
        );
    }
    assert_eq!(raw[3]["call"], "wit");
    assert_eq!(raw[3]["code"], "UNIMPLEMENTED", "{}", raw[3]);

    // JWT-SVIDs through the authority, checked by the client against the JWT bundle.
    let jwt_run = &run(&socket, "jwt", 1).await[0];
    assert_eq!(jwt_run["spiffe_id"], WORKLOAD, "{jwt_run}");
    assert_eq!(jwt_run["audience"], serde_json::json!(["db"]));
    assert_eq!(jwt_run["bundle_kids"], serde_json::json!([TestJwt::KID]));
    assert_eq!(jwt_run["verified_sub"], WORKLOAD);
    assert_eq!(jwt_run["validated_sub"], WORKLOAD);
    let raw_validate = &jwt_run["raw_validate"];
    assert_eq!(raw_validate["spiffeId"], WORKLOAD);
    assert_eq!(raw_validate["claims"]["sub"], WORKLOAD);
    assert_eq!(raw_validate["claims"]["aud"], serde_json::json!(["db"]));
    let errors = &jwt_run["errors"];
    for (call, message) in [
        ("fetch-no-audience", "audience must be specified"),
        ("validate-no-audience", "audience must be specified"),
        ("validate-no-svid", "svid must be specified"),
        (
            "validate-wrong-audience",
            "audience \"web\" not in the token",
        ),
    ] {
        assert_eq!(errors[call]["code"], "INVALID_ARGUMENT", "{call}: {errors}");
        assert_eq!(errors[call]["message"], message, "{call}: {errors}");
    }

    // Rotation while the client streams: the stream delivers the new SVID.
    let rotated = tokio::task::spawn_blocking({
        let socket = socket.clone();
        let cache = cache.clone();
        let next_leaf = ca.leaf(WORKLOAD, 2002);
        move || {
            let mut py = PyRun::start(&socket, "stream");
            let first = py.next();
            assert_eq!(first["update"], 1, "{first}");
            assert_eq!(first["serial"], 1001, "{first}");
            cache.update(|s| {
                s.entries[0] = s.entries[0]
                    .clone()
                    .with_svid(vec![next_leaf.0], next_leaf.1)
                    .unwrap();
            });
            let second = py.next();
            py.finish();
            second
        }
    })
    .await
    .unwrap();
    assert_eq!(rotated["update"], 2, "{rotated}");
    assert_eq!(rotated["serial"], 2002, "{rotated}");
    assert_eq!(rotated["key_matches_leaf"], true, "{rotated}");

    // A caller with no entry is told so, as SPIRE tells it.
    cache.update(|s| {
        let unmatched: SelectorSet = ["unix:uid:4294967294".parse().unwrap()]
            .into_iter()
            .collect();
        s.entries = vec![
            Entry::new(
                SpiffeId::parse(WORKLOAD).unwrap(),
                unmatched,
                s.entries[0].svid_chain().to_vec(),
                s.entries[0].key().clone(),
            )
            .unwrap(),
        ];
    });
    let denied = &run(&socket, "denied", 1).await[0];
    assert_eq!(denied["code"], "PERMISSION_DENIED", "{denied}");
    assert_eq!(denied["message"], "no identity issued", "{denied}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within 10s")
        .unwrap()
        .unwrap();
    assert!(!socket.exists(), "the socket is removed on shutdown");
}
