//! The node agent's side of the identity engine's `node/*` API, typed: attestation
//! (`join_token`, the two `x509pop` legs), agent SVID renewal, the sync of the entries an
//! agent serves with SVIDs for its CSRs, and JWT-SVIDs. After attesting, the client must
//! present the agent SVID ([`Client::with_client_certificate`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use sigil_core::SecretString;
use sigil_core::encoding::base64_decode;

use crate::{Client, Error};

/// An agent SVID as the server issued it.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentSvid {
    /// `spiffe://<td>/sigil/agent/<method>/<id>`.
    pub spiffe_id: String,
    /// The leaf, PEM.
    pub svid: String,
    /// The trust domain's authorities, PEM.
    pub bundle: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A registration entry the agent serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    /// The entry's UUID.
    pub id: String,
    /// The SPIFFE ID its workloads get.
    pub spiffe_id: String,
    /// `type:value` selectors a caller must all have.
    pub selectors: Vec<String>,
    /// Tells a workload's several SVIDs apart.
    #[serde(default)]
    pub hint: String,
    /// Trust domains whose bundles its workloads receive.
    #[serde(default)]
    pub federates_with: Vec<String>,
    /// Seconds (0 = the trust domain's default).
    #[serde(default)]
    pub x509_svid_ttl: u64,
    /// DNS SANs of its SVIDs.
    #[serde(default)]
    pub dns_names: Vec<String>,
}

/// A workload SVID the server signed for one of the agent's CSRs.
#[derive(Debug, Clone, Deserialize)]
pub struct SignedSvid {
    /// The leaf, PEM.
    pub svid: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What `node/sync` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Sync {
    /// The live entries whose parent is the agent (or one of its aliases).
    pub entries: Vec<Entry>,
    /// Entry id → the SVID signed for the CSR sent for it.
    pub svids: BTreeMap<String, SignedSvid>,
    /// The trust domain's authorities, PEM.
    pub bundle: String,
    /// Moves whenever the bundle changes.
    pub bundle_sequence: u64,
    /// The JWT keys as a JWKS document.
    pub jwt_bundle: String,
    /// Foreign trust domain ID (`spiffe://td`) → its bundles, for the trust domains the
    /// entries federate with.
    #[serde(default)]
    pub federated_bundles: BTreeMap<String, FederatedBundle>,
    /// When the agent's own SVID expires (Unix seconds).
    pub agent_expires_at: i64,
}

/// A federated trust domain's bundles.
#[derive(Debug, Clone, Deserialize)]
pub struct FederatedBundle {
    /// Its X.509 authorities, PEM.
    pub bundle: String,
    /// Its JWT keys as a JWKS document.
    pub jwt_bundle: String,
}

/// A JWT-SVID minted for one of the agent's workloads. `Debug` hides the token.
#[derive(Clone)]
pub struct JwtSvid {
    /// The compact JWS.
    pub token: SecretString,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for JwtSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSvid")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn decode<T: serde::de::DeserializeOwned>(data: &Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(data.clone())
        .map_err(|e| Error::Transport(format!("the server's {what} answer does not parse: {e}")))
}

impl Client {
    async fn node(&self, mount: &str, op: &str, body: &Value) -> Result<Value, Error> {
        let path = format!("{}/node/{op}", mount.trim_end_matches('/'));
        Ok(self.write(&path, body).await?.data().clone())
    }

    /// Attests with a join token; `csr` (PEM) is for the agent SVID's key.
    pub async fn attest_join_token(
        &self,
        mount: &str,
        token: &SecretString,
        csr: &str,
    ) -> Result<AgentSvid, Error> {
        let body = json!({"method": "join_token", "token": token.expose_secret(), "csr": csr});
        decode(&self.node(mount, "attest", &body).await?, "attestation")
    }

    /// The first x509pop leg: sends the node's certificate chain (PEM); returns the
    /// challenge's id and nonce.
    pub async fn x509pop_challenge(
        &self,
        mount: &str,
        chain: &str,
    ) -> Result<(String, Vec<u8>), Error> {
        let body = json!({"method": "x509pop", "certificate": chain});
        let data = self.node(mount, "attest", &body).await?;
        let field = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
        match (field("challenge_id"), field("nonce")) {
            (Some(id), Some(nonce)) => Ok((
                id,
                base64_decode(&nonce)
                    .map_err(|_| Error::Transport("the challenge's nonce is not base64".into()))?,
            )),
            _ => Err(Error::Transport("the server sent no challenge".into())),
        }
    }

    /// The second x509pop leg: the node key's `signature` over the challenge, and the CSR.
    pub async fn x509pop_answer(
        &self,
        mount: &str,
        challenge_id: &str,
        signature: &[u8],
        csr: &str,
    ) -> Result<AgentSvid, Error> {
        let body = json!({"method": "x509pop", "challenge_id": challenge_id,
                          "signature": sigil_core::encoding::base64_encode(signature),
                          "csr": csr});
        decode(&self.node(mount, "attest", &body).await?, "attestation")
    }

    /// A new agent SVID for `csr` (the client presents the current one).
    pub async fn renew_agent(&self, mount: &str, csr: &str) -> Result<AgentSvid, Error> {
        decode(
            &self.node(mount, "renew", &json!({ "csr": csr })).await?,
            "renewal",
        )
    }

    /// The agent's entries, with an SVID for each CSR in `csrs` (entry id → PEM CSR).
    pub async fn sync(&self, mount: &str, csrs: &BTreeMap<String, String>) -> Result<Sync, Error> {
        decode(
            &self.node(mount, "sync", &json!({ "csrs": csrs })).await?,
            "sync",
        )
    }

    /// A JWT-SVID for one of the agent's workloads.
    pub async fn jwt_svid(
        &self,
        mount: &str,
        spiffe_id: &str,
        audience: &[String],
    ) -> Result<JwtSvid, Error> {
        let data = self
            .node(
                mount,
                "jwt",
                &json!({"spiffe_id": spiffe_id, "audience": audience}),
            )
            .await?;
        let token = data.get("token").and_then(Value::as_str);
        let expires_at = data.get("expires_at").and_then(Value::as_i64);
        match (token, expires_at) {
            (Some(t), Some(e)) => Ok(JwtSvid {
                token: SecretString::new(t.to_owned()),
                expires_at: e,
            }),
            _ => Err(Error::Transport("the server sent no JWT-SVID".into())),
        }
    }
}
