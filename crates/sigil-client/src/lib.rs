//! A small async client of Sigil's HTTP API (which is Vault's): the CLI's verbs and the node
//! agent use it ([`node`] types the agent's side of the identity engine).
//!
//! One request per connection over HTTP/1.1, TLS verified against the CA file the caller
//! names (`SIGIL_CACERT`, written by `sigil dev`) or plain HTTP for `http://` loopback
//! addresses. The client knows the envelope (`data`, `auth`, `warnings`, `errors`) and nothing
//! of particular engines.

#![forbid(unsafe_code)]

pub mod node;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use sigil_core::SecretString;
use tokio::net::TcpStream;

/// Largest response body read (a generous multiple of the server's request limit).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Time allowed for one request, connection included.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable (bad address, unreadable CA file).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached or the connection failed.
    #[error("{0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("{status}: {}", if .errors.is_empty() { "(no message)".to_owned() } else { .errors.join("; ") })]
    Api {
        /// HTTP status.
        status: u16,
        /// The `errors` array.
        errors: Vec<String>,
    },
}

/// A response with a 2xx status. `Debug` shows the status only: bodies carry secrets.
#[derive(Clone, PartialEq)]
pub struct Reply {
    /// HTTP status (200 or 204).
    pub status: u16,
    /// The JSON body (`Null` for 204).
    pub body: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        self.body.get("data").unwrap_or(&Value::Null)
    }
}

/// An API client.
#[derive(Clone)]
pub struct Client {
    host: String,
    port: u16,
    tls: Option<Tls>,
    token: Option<SecretString>,
}

/// The TLS settings of an `https://` client.
#[derive(Clone)]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    /// Kept so a client certificate can be added later.
    roots: Arc<rustls::RootCertStore>,
}

fn tls_config(
    roots: Arc<rustls::RootCertStore>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Config(format!("client certificate: {e}")))?,
    };
    Ok(Arc::new(config))
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Client {
    /// A client for `addr` (`https://host:port` or `http://127.0.0.1:port`), trusting the CA
    /// certificates in `ca_file` for HTTPS.
    pub fn new(addr: &str, ca_file: Option<&Path>) -> Result<Self, Error> {
        let (https, rest) = if let Some(r) = addr.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = addr.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(Error::Config(format!(
                "address {addr:?} must start with https:// or http://"
            )));
        };
        let authority = rest.trim_end_matches('/');
        let (host, port) = split_authority(authority, if https { 443 } else { 80 })?;
        let tls = if https {
            let ca_file = ca_file.ok_or_else(|| {
                Error::Config("HTTPS needs a CA certificate file (SIGIL_CACERT)".into())
            })?;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca_file)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Error::Config(format!("reading {}: {e}", ca_file.display())))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| Error::Config(format!("CA certificate: {e}")))?;
            }
            let roots = Arc::new(roots);
            let name = ServerName::try_from(host.trim_matches(|c| c == '[' || c == ']').to_owned())
                .map_err(|_| Error::Config(format!("invalid server name {host:?}")))?;
            Some(Tls {
                config: tls_config(Arc::clone(&roots), None)?,
                name,
                roots,
            })
        } else {
            None
        };
        Ok(Self {
            host,
            port,
            tls,
            token: None,
        })
    }

    /// A client from `SIGIL_ADDR`, `SIGIL_CACERT` and `SIGIL_TOKEN` (falling back to the
    /// `VAULT_` names), so a shell that loaded `.sigil/env` just works.
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| {
            std::env::var(format!("SIGIL_{name}"))
                .or_else(|_| std::env::var(format!("VAULT_{name}")))
                .ok()
                .filter(|v| !v.is_empty())
        };
        let addr = var("ADDR").unwrap_or_else(|| "https://127.0.0.1:8200".into());
        let ca = var("CACERT");
        let mut client = Self::new(&addr, ca.as_deref().map(Path::new))?;
        client.token = var("TOKEN").map(SecretString::new);
        Ok(client)
    }

    /// Presents `chain` (DER, leaf first) and its `key` (PKCS#8 DER) as the TLS client
    /// certificate on every connection (how an agent authenticates with its agent SVID).
    /// Only for `https://` addresses.
    pub fn with_client_certificate(mut self, chain: &[Vec<u8>], key: &[u8]) -> Result<Self, Error> {
        let tls = self.tls.as_mut().ok_or_else(|| {
            Error::Config("a client certificate needs an https:// address".into())
        })?;
        let chain = chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
        tls.config = tls_config(Arc::clone(&tls.roots), Some((chain, key)))?;
        Ok(self)
    }

    /// Sets the token sent with every request.
    #[must_use]
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// `GET /v1/<path>`.
    pub async fn read(&self, path: &str) -> Result<Reply, Error> {
        self.request("GET", path, None).await
    }

    /// `LIST /v1/<path>`.
    pub async fn list(&self, path: &str) -> Result<Reply, Error> {
        self.request("LIST", path, None).await
    }

    /// `PUT /v1/<path>` with a JSON body.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Reply, Error> {
        self.request("PUT", path, Some(body)).await
    }

    /// `DELETE /v1/<path>`.
    pub async fn delete(&self, path: &str) -> Result<Reply, Error> {
        self.request("DELETE", path, None).await
    }

    /// Any method.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Error> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| Error::Transport(format!("no answer within {}s", TIMEOUT.as_secs())))?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Error> {
        let transport = |e: &dyn std::fmt::Display| {
            Error::Transport(format!("{}:{}: {e}", self.host, self.port))
        };
        let tcp = TcpStream::connect((self.host.trim_matches(|c| c == '[' || c == ']'), self.port))
            .await
            .map_err(|e| transport(&e))?;
        let _ = tcp.set_nodelay(true);
        let body_bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| Error::Config(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let mut req = hyper::Request::builder()
            .method(
                hyper::Method::from_bytes(method.as_bytes())
                    .map_err(|e| Error::Config(e.to_string()))?,
            )
            .uri(format!("/v1/{}", path.trim_start_matches('/')))
            .header(HOST, format!("{}:{}", self.host, self.port))
            .header("x-vault-request", "true");
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.token {
            req = req.header("x-vault-token", t.expose_secret());
        }
        let req = req
            .body(Full::new(body_bytes))
            .map_err(|e| Error::Config(e.to_string()))?;
        let response = match &self.tls {
            Some(Tls { config, name, .. }) => {
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| transport(&e))?;
                send(TokioIo::new(tls), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
        .map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| transport(&e))?
            .to_bytes();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if (200..300).contains(&status) {
            return Ok(Reply { status, body });
        }
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Err(Error::Api { status, errors })
    }
}

async fn send<T>(
    io: TokioIo<T>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), Error> {
    let bad = || Error::Config(format!("invalid address {authority:?}"));
    if authority.is_empty() || authority.contains('/') {
        return Err(bad());
    }
    // [v6]:port, host:port, or host alone.
    let (host, port) = match authority.rfind(':') {
        Some(i)
            if !authority[i..].contains(']')
                && (authority.starts_with('[') || authority[..i].find(':').is_none()) =>
        {
            (
                &authority[..i],
                authority[i + 1..].parse::<u16>().map_err(|_| bad())?,
            )
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            split_authority("127.0.0.1:8200", 443).unwrap(),
            ("127.0.0.1".into(), 8200)
        );
        assert_eq!(
            split_authority("localhost", 443).unwrap(),
            ("localhost".into(), 443)
        );
        assert_eq!(
            split_authority("[::1]:9", 443).unwrap(),
            ("[::1]".into(), 9)
        );
        for bad in ["", ":1", "h:x", "h:1/x"] {
            assert!(split_authority(bad, 443).is_err(), "{bad}");
        }
        assert!(Client::new("ftp://x", None).is_err());
        assert!(
            Client::new("https://x:1", None).is_err(),
            "HTTPS needs a CA file"
        );
        let c = Client::new("http://127.0.0.1:1", None)
            .unwrap()
            .with_token(SecretString::new("hvs.x".into()));
        assert!(!format!("{c:?}").contains("hvs.x"));
    }
}
