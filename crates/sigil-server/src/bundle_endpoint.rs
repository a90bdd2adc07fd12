//! The SPIFFE bundle endpoint of a trust domain, `https_spiffe` profile (SPIFFE Federation
//! §5.2): an HTTPS server, on its own address, that answers `GET` with the trust domain's
//! SPIFFE bundle document. Its TLS certificate is an X509-SVID of the trust domain itself
//! (`spiffe://<td>/sigil/server`), so a federated peer that holds an earlier copy of the
//! bundle authenticates the endpoint with it, and keeps following rotations from there.
//!
//! The endpoint asks its mount for the bundle and for its own SVID with internal requests
//! (no token; see [`Request::internal`]); the SVID is minted again at half its life, and on
//! failure (a sealed server) retried every few seconds while the old one serves.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api::{Operation, Request};
use crate::core::Core;

/// How long to wait before retrying a failed SVID mint.
const RETRY: Duration = Duration::from_secs(5);

/// The endpoint's current certificate, swapped on renewal.
#[derive(Debug, Default)]
struct CurrentSvid(RwLock<Option<Arc<CertifiedKey>>>);

impl ResolvesServerCert for CurrentSvid {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().and_then(|c| c.clone())
    }
}

/// Mints the endpoint's SVID from `mount`; returns it and how long until it should be
/// renewed (half its remaining life).
async fn mint(core: &Core, mount: &str) -> Result<(Arc<CertifiedKey>, Duration), String> {
    let config = core
        .handle(Request::internal(
            Operation::Read,
            format!("{mount}/config"),
        ))
        .await
        .map_err(|e| format!("reading the trust domain: {e}"))?;
    let td = config
        .data
        .as_ref()
        .and_then(|d| d.get("trust_domain_id"))
        .and_then(Value::as_str)
        .ok_or("the mount has no trust domain")?
        .to_owned();
    let minted = core
        .handle(
            Request::internal(Operation::Update, format!("{mount}/x509/mint"))
                .with("spiffe_id", json!(format!("{td}/sigil/server"))),
        )
        .await
        .map_err(|e| format!("minting the endpoint's SVID: {e}"))?;
    let data = minted.data.unwrap_or_default();
    let field = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or_default();
    let chain = CertificateDer::pem_slice_iter(field("svid").as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "the minted SVID is not PEM")?;
    let key = PrivateKeyDer::from_pem_slice(field("private_key").as_bytes())
        .map_err(|_| "the minted key is not PEM")?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| format!("the minted key: {e}"))?;
    let expires_at = data.get("expires_at").and_then(Value::as_i64).unwrap_or(0);
    let left =
        u64::try_from(expires_at - i64::try_from(crate::core::unix_now()).unwrap_or(i64::MAX))
            .unwrap_or(0);
    Ok((
        Arc::new(CertifiedKey::new(chain, signer)),
        Duration::from_secs(left / 2).max(RETRY),
    ))
}

/// Serves `mount`'s bundle on `listener` until `shutdown` turns true.
pub async fn serve(
    core: Arc<Core>,
    mount: String,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let current = Arc::new(CurrentSvid::default());
    let renewer = {
        let (core, mount, current) = (Arc::clone(&core), mount.clone(), Arc::clone(&current));
        tokio::spawn(async move {
            loop {
                let wait = match mint(&core, &mount).await {
                    Ok((svid, renew_in)) => {
                        if let Ok(mut slot) = current.0.write() {
                            *slot = Some(svid);
                        }
                        renew_in
                    }
                    Err(e) => {
                        tracing::warn!(mount = %mount, error = %e, "bundle endpoint SVID");
                        RETRY
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = match rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    {
        Ok(b) => b.with_no_client_auth().with_cert_resolver(current),
        Err(e) => {
            tracing::error!(error = %e, "bundle endpoint TLS setup");
            renewer.abort();
            return;
        }
    };
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (core, mount, acceptor) = (Arc::clone(&core), mount.clone(), acceptor.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (core, mount) = (Arc::clone(&core), mount.clone());
                async move { Ok::<_, Infallible>(answer(&core, &mount, req.method()).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
    renewer.abort();
}

async fn answer(core: &Core, mount: &str, method: &hyper::Method) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, content_type: &str, body: Vec<u8>| {
        hyper::Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if method != hyper::Method::GET {
        return reply(405, "text/plain", b"GET only\n".to_vec());
    }
    match core
        .handle(Request::internal(
            Operation::Read,
            format!("{mount}/bundle"),
        ))
        .await
    {
        Ok(r) => match r.raw {
            Some(raw) if !raw.body.is_empty() => reply(200, "application/json", raw.body),
            _ => reply(503, "text/plain", b"no trust domain\n".to_vec()),
        },
        Err(_) => reply(503, "text/plain", b"unavailable\n".to_vec()),
    }
}
