//! The HTTP layer: Vault's wire conventions over hyper (HTTP/1.1 and HTTP/2) and rustls
//! (TLS 1.3 and 1.2 only).
//!
//! This module is the only place that knows HTTP. It turns a call into an [`api::Request`]
//! (PUT ≡ POST; `LIST` and `GET ?list=true` are lists, with the trailing slash Vault adds;
//! `X-Vault-Token` or `Authorization: Bearer`; the JSON body, at most `max_request_size`
//! bytes, or as sent when it is an OCSP request; query parameters for reads), and renders the outcome in Vault's envelope:
//! `{"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
//! "warnings", "auth"}`, with `data` also copied to the top level for `sys/` paths, `204` when
//! there is nothing to return, and `{"errors": [...]}` with Vault's statuses on failure.
//!
//! [`api::Request`]: crate::api::Request

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value, json};
use sigil_core::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::api::{ApiError, Operation, Request, Response};
use crate::core::Core;
use crate::json;

/// Vault's default request size limit.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// How far past the limit an oversized body is read (and discarded) before answering 413.
const DRAIN_FACTOR: usize = 2;

/// How long a client has to send its request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type HttpResponse = hyper::Response<Full<Bytes>>;

/// Builds the TLS configuration from PEM files: TLS 1.3 and 1.2, ALPN `h2` and `http/1.1`,
/// client certificates asked for and passed on (see [`crate::client_cert`]).
pub fn tls_config(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("reading {}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let clients = Arc::new(crate::client_cert::DeferredClientCert::new(Arc::clone(
        &provider,
    )));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_client_cert_verifier(clients)
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves the API on `listener` until `shutdown` turns true, then finishes the requests in
/// flight.
pub async fn serve(
    core: Arc<Core>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_request_size: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::clone(core.activity());
        let core = Arc::clone(&core);
        let service = move |certs: Option<Arc<Vec<Vec<u8>>>>| {
            hyper::service::service_fn(move |req| {
                let core = Arc::clone(&core);
                let conn = Connection {
                    peer,
                    certs: certs.clone(),
                };
                async move { Ok::<_, Infallible>(handle(&core, req, conn, max_request_size).await) }
            })
        };
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        match &acceptor {
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _connection = activity.connection();
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    // The client's chain, once per connection, for the `cert` auth method.
                    let certs =
                        tls.get_ref().1.peer_certificates().map(|chain| {
                            Arc::new(chain.iter().map(|c| c.as_ref().to_vec()).collect())
                        });
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service(certs))
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
            None => {
                tokio::spawn(async move {
                    let _connection = activity.connection();
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service(None))
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// What a request knows of its connection.
#[derive(Debug, Clone)]
struct Connection {
    peer: SocketAddr,
    /// The client's TLS certificate chain, DER, leaf first.
    certs: Option<Arc<Vec<Vec<u8>>>>,
}

async fn handle(
    core: &Core,
    req: hyper::Request<Incoming>,
    conn: Connection,
    max_request_size: usize,
) -> HttpResponse {
    let _request = core.activity().request();
    let started = Instant::now();
    let method = req.method().clone();
    let method_label = method_label(&method);
    let (parsed, request_id) = match parse(req, conn, max_request_size).await {
        Ok(p) => {
            let id = p.id.clone();
            (Ok(p), id)
        }
        Err(e) => (Err(e), uuid::Uuid::new_v4().to_string()),
    };
    let (label, response) = match parsed {
        Err(e) => (String::new(), error_response(&e, &request_id)),
        Ok(r) if r.path == "sys/health" => (
            "sys/".to_owned(),
            health(core, &r, method == Method::HEAD).await,
        ),
        Ok(r) => {
            let mut label = String::new();
            let prometheus = r.path == "sys/metrics"
                && crate::api::field_str(&r.data, "format").as_deref() == Some("prometheus");
            let sys = r.path.starts_with("sys/");
            let outcome = core.handle_labelled(r, &mut label).await;
            let response = match outcome {
                Ok(resp) if prometheus => text_response(&resp),
                Ok(resp) => success_response(&resp, &request_id, sys),
                Err(e) => error_response(&e, &request_id),
            };
            (label, response)
        }
    };
    let status = response.status().as_u16();
    core.metrics()
        .request(&label, method_label, status, started.elapsed());
    tracing::debug!(request_id = %request_id, mount = %label, method = method_label, status, "request");
    response
}

fn method_label(m: &Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "LIST" => "LIST",
        _ => "OTHER",
    }
}

/// Turns an HTTP request into an API request.
async fn parse(
    req: hyper::Request<Incoming>,
    conn: Connection,
    max_request_size: usize,
) -> Result<Request, ApiError> {
    let (parts, body) = req.into_parts();
    let raw_path = parts
        .uri
        .path()
        .strip_prefix("/v1/")
        .ok_or(ApiError::UnsupportedPath)?;
    let mut path = percent_decode(raw_path)?.trim_start_matches('/').to_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""))?;
    // Go's strconv.ParseBool spellings of true, as Vault reads `?list=`: hvac sends `True`.
    let list_param = matches!(
        query.get("list").and_then(Value::as_str),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True")
    );
    let operation = match parts.method.as_str() {
        "GET" | "HEAD" if list_param => Operation::List,
        "GET" | "HEAD" => Operation::Read,
        "PUT" | "POST" => Operation::Update,
        "DELETE" => Operation::Delete,
        "LIST" => Operation::List,
        "PATCH" => Operation::Patch,
        _ => return Err(ApiError::UnsupportedOperation),
    };
    if operation == Operation::List && !path.ends_with('/') {
        path.push('/');
    }
    if parts.headers.contains_key("x-vault-wrap-ttl") {
        return Err(ApiError::bad("response wrapping is not supported"));
    }
    let token = token_from(&parts.headers);
    let body = read_body(body, max_request_size).await?;
    let mut raw_body = None;
    let data = match operation {
        // Reads take their parameters from the query; hvac sends a body with some GETs.
        Operation::Read | Operation::List => query,
        // An OCSP request is DER, not JSON: it goes to the handler as sent (Vault does the
        // same for this content type).
        _ if is_ocsp_request(&parts.headers) => {
            raw_body = Some(body);
            query
        }
        _ => {
            let mut data = if body.iter().all(u8::is_ascii_whitespace) {
                Map::new()
            } else {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(m)) => m,
                    // `bao write -f` sends `null` for "no data".
                    Ok(Value::Null) => Map::new(),
                    Ok(_) => return Err(ApiError::bad("the request body must be a JSON object")),
                    Err(e) => return Err(ApiError::bad(format!("error parsing JSON: {e}"))),
                }
            };
            // Query parameters fill in what the body does not say (Vault does the same).
            for (k, v) in query {
                data.entry(k).or_insert(v);
            }
            data
        }
    };
    let mut request = Request::new(operation, path);
    request.data = data;
    request.raw_body = raw_body;
    request.token = token;
    request.remote_addr = Some(conn.peer);
    request.peer_certificates = conn.certs;
    Ok(request)
}

/// Whether the body is an OCSP request (RFC 6960 appendix A), whatever parameters follow
/// the media type.
fn is_ocsp_request(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ocsp-request"))
}

/// Reads the body up to `max` bytes. A larger body is drained (up to [`DRAIN_FACTOR`] times
/// the limit) before the 413 goes out, so the client reads the answer instead of a reset
/// connection; beyond that, or after [`BODY_TIMEOUT`], the connection is simply dropped.
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    let read = async {
        let mut buf = bytes::BytesMut::new();
        let mut seen: usize = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::bad("failed to read the request body"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen > max.saturating_mul(DRAIN_FACTOR) {
                return Err(ApiError::TooLarge);
            }
            if seen <= max {
                buf.extend_from_slice(&data);
            }
        }
        if seen > max {
            return Err(ApiError::TooLarge);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .map_err(|_| ApiError::bad("timed out reading the request body"))?
}

fn token_from(headers: &hyper::HeaderMap) -> Option<SecretString> {
    if let Some(v) = headers.get("x-vault-token").and_then(|v| v.to_str().ok())
        && !v.is_empty()
    {
        return Some(SecretString::new(v.to_owned()));
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::new(value.trim().to_owned()))
}

fn parse_query(q: &str) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(&k.replace('+', " "))?;
        let v = percent_decode(&v.replace('+', " "))?;
        out.insert(k, Value::String(v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::bad("invalid percent-encoding in the URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad("the URL is not valid UTF-8"))
}

async fn health(core: &Core, req: &Request, head: bool) -> HttpResponse {
    let (status, body) = core.health(&req.data).await;
    let bytes = if head {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    };
    build(status, bytes, "application/json")
}

/// Vault's response envelope of a non-`sys/` response, written straight from the handler's
/// response (no copy), with the strings written by [`json`].
fn envelope(resp: &Response, request_id: &str) -> Vec<u8> {
    const NULL: &[u8] = b"null";
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(br#"{"request_id":"#);
    json::write_str(&mut out, request_id);
    out.extend_from_slice(br#","lease_id":"","renewable":false,"lease_duration":"#);
    out.extend_from_slice(resp.lease_duration.to_string().as_bytes());
    out.extend_from_slice(br#","data":"#);
    match &resp.data {
        Some(data) => json::write_map(&mut out, data),
        None => out.extend_from_slice(NULL),
    }
    out.extend_from_slice(br#","wrap_info":null,"warnings":"#);
    if resp.warnings.is_empty() {
        out.extend_from_slice(NULL);
    } else {
        json::write_strs(&mut out, &resp.warnings);
    }
    out.extend_from_slice(br#","auth":"#);
    match &resp.auth {
        // A token's fields always serialize, and a Vec cannot fail.
        Some(auth) => {
            let _ = serde_json::to_writer(&mut out, auth);
        }
        None => out.extend_from_slice(NULL),
    }
    out.extend_from_slice(br#","mount_type":""}"#);
    out
}

fn success_response(resp: &Response, request_id: &str, sys: bool) -> HttpResponse {
    if let Some(raw) = &resp.raw {
        return build(
            resp.status.unwrap_or(200),
            Bytes::from(raw.body.clone()),
            raw.content_type,
        );
    }
    if resp.data.is_none() && resp.auth.is_none() && resp.warnings.is_empty() {
        return build(204, Bytes::new(), "application/json");
    }
    if !sys {
        return build(
            resp.status.unwrap_or(200),
            Bytes::from(envelope(resp, request_id)),
            "application/json",
        );
    }
    let mut body = Map::new();
    if sys {
        // Vault's legacy quirk: sys/ responses repeat `data`'s keys at the top level.
        if let Some(data) = &resp.data {
            for (k, v) in data {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    body.insert("request_id".into(), json!(request_id));
    body.insert("lease_id".into(), json!(""));
    body.insert("renewable".into(), json!(false));
    body.insert("lease_duration".into(), json!(resp.lease_duration));
    body.insert(
        "data".into(),
        resp.data.clone().map_or(Value::Null, Value::Object),
    );
    body.insert("wrap_info".into(), Value::Null);
    body.insert(
        "warnings".into(),
        if resp.warnings.is_empty() {
            Value::Null
        } else {
            json!(resp.warnings)
        },
    );
    body.insert(
        "auth".into(),
        resp.auth.as_ref().map_or(Value::Null, |a| {
            serde_json::to_value(a).unwrap_or(Value::Null)
        }),
    );
    body.insert("mount_type".into(), json!(""));
    build(
        resp.status.unwrap_or(200),
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        "application/json",
    )
}

fn text_response(resp: &Response) -> HttpResponse {
    let text = resp
        .data
        .as_ref()
        .and_then(|d| d.get("prometheus"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    build(200, Bytes::from(text), "text/plain; version=0.0.4")
}

fn error_response(e: &ApiError, request_id: &str) -> HttpResponse {
    let body = match e {
        ApiError::NotFoundWith(data) => json!({
            "request_id": request_id,
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": data,
            "wrap_info": null,
            "warnings": null,
            "auth": null,
        }),
        other => json!({ "errors": other.messages() }),
    };
    build(
        e.status(),
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        "application/json",
    )
}

fn build(status: u16, body: Bytes, content_type: &'static str) -> HttpResponse {
    let mut resp = hyper::Response::new(Full::new(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries_and_paths() {
        let q = parse_query("list=true&version=2&a%2Fb=c+d").unwrap();
        assert_eq!(q["list"], "true");
        assert_eq!(q["version"], "2");
        assert_eq!(q["a/b"], "c d");
        assert_eq!(percent_decode("secret%2Fdata").unwrap(), "secret/data");
        for bad in ["%", "%4", "%zz", "%ff"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_ocsp_requests_keep_their_raw_body() {
        let with = |ct: &str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            is_ocsp_request(&h)
        };
        assert!(with("application/ocsp-request"));
        assert!(with("Application/OCSP-Request; charset=binary"));
        assert!(!with("application/json"));
        assert!(!with("application/ocsp-requests"));
        assert!(!is_ocsp_request(&hyper::HeaderMap::new()));
    }

    /// The envelope as serde writes it from a struct, field by field.
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        request_id: &'a str,
        lease_id: &'static str,
        renewable: bool,
        lease_duration: u64,
        data: Option<&'a Map<String, Value>>,
        wrap_info: Option<()>,
        warnings: Option<&'a [String]>,
        auth: Option<&'a crate::api::Auth>,
        mount_type: &'static str,
    }

    #[test]
    fn the_envelope_is_the_one_serde_writes() {
        let data = json!({"ciphertext": "vault:v1:abc+/=", "key_version": 3,
            "nested": {"list": ["a", "b\"\n"], "n": null, "f": 1.25}});
        let mut responses = vec![
            Response::data(data.as_object().unwrap().clone()),
            Response::empty(),
        ];
        let mut with_auth = Response::empty();
        with_auth.auth = Some(crate::api::Auth {
            client_token: "hvs.abc".into(),
            accessor: "acc".into(),
            policies: vec!["default".into(), "q\"uote".into()],
            lease_duration: 3600,
            renewable: true,
            ..Default::default()
        });
        with_auth.warnings = vec!["careful \u{1}".into()];
        with_auth.lease_duration = 42;
        responses.push(with_auth);
        for resp in &responses {
            let expected = serde_json::to_vec(&Envelope {
                request_id: "id-\"1\"",
                lease_id: "",
                renewable: false,
                lease_duration: resp.lease_duration,
                data: resp.data.as_ref(),
                wrap_info: None,
                warnings: (!resp.warnings.is_empty()).then_some(resp.warnings.as_slice()),
                auth: resp.auth.as_ref(),
                mount_type: "",
            })
            .unwrap();
            let ours = envelope(resp, "id-\"1\"");
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }
}
