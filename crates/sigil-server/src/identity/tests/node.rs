//! Node attestation and agents: join tokens are single use and short-lived; x509pop needs
//! the node certificate's key to sign a fresh nonce; an agent authenticates with its agent
//! SVID, syncs only its own entries, renews, and is cut off when evicted or banned. Every
//! refusal leaves storage as it was.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SigningKey,
};

use super::*;
use crate::identity::node::X509POP_CONTEXT;

/// A fresh key and a CSR for it (no subject: the server decides the SVID's names).
fn csr() -> (KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let pem = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    (key, pem)
}

/// An agent as the server knows it: its ID and SVID (DER).
struct Agent {
    id: String,
    svid: Vec<u8>,
}

impl Agent {
    fn chain(&self) -> Option<Vec<Vec<u8>>> {
        Some(vec![self.svid.clone()])
    }
}

impl Fixture {
    async fn token(&self, body: Value) -> Map<String, Value> {
        self.write("token", body).await
    }

    async fn attest(&self, body: Value) -> Result<Map<String, Value>, ApiError> {
        self.call(Operation::Update, "node/attest", body)
            .await
            .map(|r| r.data.unwrap_or_default())
    }

    async fn join(&self, token: &str) -> Agent {
        let (_, csr) = csr();
        let got = self
            .attest(json!({"method": "join_token", "token": token, "csr": csr}))
            .await
            .unwrap();
        Agent {
            id: s(&got, "spiffe_id"),
            svid: der(&s(&got, "svid")),
        }
    }

    async fn as_agent(
        &self,
        agent: &Agent,
        path: &str,
        body: Value,
    ) -> Result<Map<String, Value>, ApiError> {
        self.call_with(Operation::Update, path, body, 0, agent.chain())
            .await
            .map(|r| r.data.unwrap_or_default())
    }

    async fn entry(&self, spiffe_id: &str, parent_id: &str, uid: u32) -> String {
        let got = self
            .write(
                "entry",
                json!({"spiffe_id": spiffe_id, "parent_id": parent_id,
                       "selectors": [format!("unix:uid:{uid}")]}),
            )
            .await;
        s(&got, "id")
    }
}

#[tokio::test]
async fn a_join_token_admits_one_agent_once() {
    let f = Fixture::configured().await;
    let token = f.token(json!({"ttl": "5m"})).await;
    let value = s(&token, "token");
    assert_eq!(value.len(), 32, "128 random bits in hex");
    assert_eq!(token["expires_at"], json!(NOW as i64 + 300));
    let agent = f.join(&value).await;
    assert_eq!(agent.id, s(&token, "spiffe_id"));
    assert!(
        agent
            .id
            .starts_with("spiffe://example.org/sigil/agent/join_token/")
    );
    assert!(!agent.id.contains(&value), "the ID never carries the token");
    let bundle = String::from_utf8(f.raw("bundle/pem").await).unwrap();
    check_svid(
        &Pem::encode("CERTIFICATE", &agent.svid).unwrap(),
        &bundle,
        &agent.id,
    );

    // Used, unknown and expired tokens are refused, and nothing changes.
    let late = f.token(json!({"ttl": "1m"})).await;
    let before = f.snapshot().await;
    let (_, csr) = csr();
    for token in [value.as_str(), "00112233445566778899aabbccddeeff"] {
        let err = f
            .attest(json!({"method": "join_token", "token": token, "csr": csr}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("attestation failed"), "{err}");
    }
    let err = f
        .call_at(
            Operation::Update,
            "node/attest",
            json!({"method": "join_token", "token": s(&late, "token"), "csr": csr}),
            61,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // A bad CSR is refused before the token is spent.
    let err = f
        .attest(json!({"method": "join_token", "token": s(&late, "token"), "csr": "garbage"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("csr"), "{err}");
    for body in [
        json!({"token": s(&late, "token"), "csr": csr}),
        json!({"method": "tpm", "csr": csr}),
        json!({"method": "join_token", "csr": csr}),
    ] {
        assert!(matches!(f.attest(body).await, Err(ApiError::BadRequest(_))));
    }
    assert_eq!(f.snapshot().await, before);
    f.join(&s(&late, "token")).await;
}

#[tokio::test]
async fn an_agent_syncs_its_own_entries_and_gets_svids_for_its_csrs() {
    let f = Fixture::configured().await;
    let token = f
        .token(json!({"spiffe_id": "spiffe://example.org/node/web-1"}))
        .await;
    let agent = f.join(&s(&token, "token")).await;
    let mine = f.entry("spiffe://example.org/web", &agent.id, 1000).await;
    let by_alias = f
        .entry(
            "spiffe://example.org/db",
            "spiffe://example.org/node/web-1",
            1001,
        )
        .await;
    let other = f
        .entry(
            "spiffe://example.org/else",
            "spiffe://example.org/node/b",
            1000,
        )
        .await;

    let got = f.as_agent(&agent, "node/sync", json!({})).await.unwrap();
    let mut ids: Vec<_> = got["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![mine.clone(), by_alias.clone()];
    want.sort();
    assert_eq!(ids, want);
    assert!(s(&got, "jwt_bundle").contains("\"kid\""));

    let (_, csr_a) = csr();
    let (_, csr_b) = csr();
    let got = f
        .as_agent(
            &agent,
            "node/sync",
            json!({"csrs": {mine.clone(): csr_a, by_alias.clone(): csr_b}}),
        )
        .await
        .unwrap();
    let bundle = s(&got, "bundle");
    check_svid(
        got["svids"][&mine]["svid"].as_str().unwrap(),
        &bundle,
        "spiffe://example.org/web",
    );
    check_svid(
        got["svids"][&by_alias]["svid"].as_str().unwrap(),
        &bundle,
        "spiffe://example.org/db",
    );

    // Another agent's entry, a bad CSR, no SVID: refused, nothing signed.
    let (_, csr_c) = csr();
    assert!(matches!(
        f.as_agent(&agent, "node/sync", json!({"csrs": {other: csr_c}}))
            .await,
        Err(ApiError::BadRequest(_))
    ));
    assert!(matches!(
        f.as_agent(&agent, "node/sync", json!({"csrs": {mine.clone(): "x"}}))
            .await,
        Err(ApiError::BadRequest(_))
    ));
    assert_eq!(
        f.call(Operation::Update, "node/sync", json!({})).await,
        Err(ApiError::PermissionDenied)
    );
    // A workload SVID is not an agent SVID.
    let workload = Agent {
        id: String::new(),
        svid: der(got["svids"][&mine]["svid"].as_str().unwrap()),
    };
    assert_eq!(
        f.as_agent(&workload, "node/sync", json!({})).await,
        Err(ApiError::PermissionDenied)
    );

    // JWT-SVIDs for its own workloads only.
    let got = f
        .as_agent(
            &agent,
            "node/jwt",
            json!({"spiffe_id": "spiffe://example.org/web", "audience": ["db"]}),
        )
        .await
        .unwrap();
    assert!(s(&got, "token").split('.').count() == 3);
    assert_eq!(
        f.as_agent(
            &agent,
            "node/jwt",
            json!({"spiffe_id": "spiffe://example.org/else", "audience": ["db"]}),
        )
        .await,
        Err(ApiError::PermissionDenied)
    );
}

#[tokio::test]
async fn renewal_keeps_one_previous_svid_and_eviction_or_a_ban_cuts_off() {
    let f = Fixture::configured().await;
    let first = f.join(&s(&f.token(json!({})).await, "token")).await;
    let (_, csr_pem) = csr();
    let got = f
        .as_agent(&first, "node/renew", json!({"csr": csr_pem}))
        .await
        .unwrap();
    let second = Agent {
        id: s(&got, "spiffe_id"),
        svid: der(&s(&got, "svid")),
    };
    assert_eq!(second.id, first.id);
    // Both work until the next renewal, which retires the first.
    for a in [&first, &second] {
        f.as_agent(a, "node/sync", json!({})).await.unwrap();
    }
    let (_, csr_pem) = csr();
    f.as_agent(&second, "node/renew", json!({"csr": csr_pem}))
        .await
        .unwrap();
    assert_eq!(
        f.as_agent(&first, "node/sync", json!({})).await,
        Err(ApiError::PermissionDenied)
    );
    f.as_agent(&second, "node/sync", json!({})).await.unwrap();

    // Listed, read, banned, evicted.
    let list = f
        .call(Operation::List, "agents", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    let path = list["keys"][0].as_str().unwrap().to_owned();
    assert!(path.starts_with("join_token/"));
    let read = f.read_data(&format!("agent/{path}")).await;
    assert_eq!(s(&read, "spiffe_id"), first.id);
    assert_eq!(read["banned"], json!(false));
    let got = f.write(&format!("agent/{path}/ban"), json!({})).await;
    assert_eq!(got["banned"], json!(true));
    assert_eq!(
        f.as_agent(&second, "node/sync", json!({})).await,
        Err(ApiError::PermissionDenied)
    );
    f.call(Operation::Delete, &format!("agent/{path}"), json!({}))
        .await
        .unwrap();
    assert_eq!(
        f.call(Operation::Read, &format!("agent/{path}"), json!({}))
            .await,
        Err(ApiError::NotFound)
    );
    assert_eq!(
        f.as_agent(&second, "node/sync", json!({})).await,
        Err(ApiError::PermissionDenied)
    );
    assert_eq!(
        f.call(Operation::Read, "agent/tpm/x", json!({})).await,
        Err(ApiError::NotFound)
    );
}

/// A node CA and a node certificate (CN `node-1`) it signed for client use.
fn node_pki() -> (String, String, KeyPair) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "node CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let node_key = KeyPair::generate().unwrap();
    let mut node = CertificateParams::new(Vec::<String>::new()).unwrap();
    node.distinguished_name.push(DnType::CommonName, "node-1");
    node.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let node_cert = node.signed_by(&node_key, &issuer).unwrap();
    (ca_cert.pem(), node_cert.pem(), node_key)
}

#[tokio::test]
async fn x509pop_needs_the_node_key_to_sign_a_fresh_nonce() {
    let f = Fixture::configured().await;
    let (ca, node, node_key) = node_pki();
    let begin = json!({"method": "x509pop", "certificate": node});
    // Off until a CA bundle is configured.
    assert!(matches!(
        f.attest(begin.clone()).await,
        Err(ApiError::BadRequest(_))
    ));
    assert!(matches!(
        f.call(
            Operation::Update,
            "config",
            json!({"x509pop_ca_bundle": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})
        )
        .await,
        Err(ApiError::BadRequest(_))
    ));
    f.write("config", json!({"x509pop_ca_bundle": ca})).await;

    // A certificate from another CA gets no challenge.
    let (_, stranger, _) = node_pki();
    let before = f.snapshot().await;
    let err = f
        .attest(json!({"method": "x509pop", "certificate": stranger}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not chain"), "{err}");
    assert_eq!(f.snapshot().await, before);

    let challenge = f.attest(begin.clone()).await.unwrap();
    let nonce = base64_decode(&s(&challenge, "nonce")).unwrap();
    assert_eq!(nonce.len(), 32);
    let sign = |msg: &[u8]| base64_encode(&node_key.sign(msg).unwrap());
    let answer = |signature: String| {
        let (_, csr) = csr();
        json!({"method": "x509pop", "challenge_id": s(&challenge, "challenge_id"),
               "signature": signature, "csr": csr})
    };
    // The nonce without the context, another nonce, another key: refused, challenge kept.
    let before = f.snapshot().await;
    for bad in [
        sign(&nonce),
        sign(&[X509POP_CONTEXT, &[0u8; 32]].concat()),
        base64_encode(
            &KeyPair::generate()
                .unwrap()
                .sign(&[X509POP_CONTEXT, &nonce].concat())
                .unwrap(),
        ),
    ] {
        let err = f.attest(answer(bad)).await.unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
    assert_eq!(f.snapshot().await, before);

    let good = sign(&[X509POP_CONTEXT, &nonce].concat());
    let got = f.attest(answer(good.clone())).await.unwrap();
    let fingerprint = sigil_core::encoding::hex_encode(&sigil_core::hash::digest(
        sigil_core::hash::HashAlgorithm::Sha256,
        &der(&node),
    ));
    assert_eq!(
        s(&got, "spiffe_id"),
        format!("spiffe://example.org/sigil/agent/x509pop/{fingerprint}")
    );
    // A challenge is answered once.
    let err = f.attest(answer(good)).await.unwrap_err();
    assert!(err.to_string().contains("was answered"), "{err}");
    let read = f.read_data(&format!("agent/x509pop/{fingerprint}")).await;
    assert_eq!(read["selectors"], json!(["x509pop:subject:cn:node-1"]));

    // Banned: the node cannot attest again until evicted.
    f.write(&format!("agent/x509pop/{fingerprint}/ban"), json!({}))
        .await;
    let challenge = f.attest(begin.clone()).await.unwrap();
    let nonce = base64_decode(&s(&challenge, "nonce")).unwrap();
    let (_, csr_pem) = csr();
    let body = json!({"method": "x509pop", "challenge_id": s(&challenge, "challenge_id"),
                      "signature": sign(&[X509POP_CONTEXT, &nonce].concat()), "csr": csr_pem});
    let err = f.attest(body.clone()).await.unwrap_err();
    assert!(err.to_string().contains("banned"), "{err}");
    f.call(
        Operation::Delete,
        &format!("agent/x509pop/{fingerprint}"),
        json!({}),
    )
    .await
    .unwrap();
    f.attest(body).await.unwrap();
}

#[tokio::test]
async fn entries_stored_before_the_indexes_are_indexed_on_first_use() {
    let f = Fixture::configured().await;
    let agent = f.join(&s(&f.token(json!({})).await, "token")).await;
    let id = f.entry("spiffe://example.org/web", &agent.id, 1000).await;
    // As an older version stored it: the entry alone.
    let entry = f.view.get(&format!("entries/{id}")).await.unwrap().unwrap();
    for prefix in ["entry_parents/", "entry_registrations/"] {
        for k in f.view.list(prefix, Page::default()).await.unwrap() {
            let key = format!("{prefix}{k}");
            if k.ends_with('/') {
                for leaf in f.view.list(&key, Page::default()).await.unwrap() {
                    f.view.delete(&format!("{key}{leaf}")).await.unwrap();
                }
            } else {
                f.view.delete(&key).await.unwrap();
            }
        }
    }
    f.view.delete("entry_index").await.unwrap();
    assert_eq!(
        f.view.get(&format!("entries/{id}")).await.unwrap().unwrap(),
        entry
    );
    let got = f.as_agent(&agent, "node/sync", json!({})).await.unwrap();
    assert_eq!(got["entries"][0]["id"], json!(id));
    // The registration index works again: a duplicate is refused.
    let err = f
        .call(
            Operation::Update,
            "entry",
            json!({"spiffe_id": "spiffe://example.org/web", "parent_id": agent.id,
                   "selectors": ["unix:uid:1000"]}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
    // Moving an entry to another parent moves it between agents' syncs.
    f.write(
        &format!("entry/{id}"),
        json!({"parent_id": "spiffe://example.org/elsewhere"}),
    )
    .await;
    let got = f.as_agent(&agent, "node/sync", json!({})).await.unwrap();
    assert_eq!(got["entries"], json!([]));
    f.call(Operation::Delete, &format!("entry/{id}"), json!({}))
        .await
        .unwrap();
    let left: Vec<_> = f
        .snapshot()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("entry_"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["entry_index"], "a deleted entry leaves no index key");
}
