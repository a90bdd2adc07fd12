//! One HTTPS `GET` the server makes itself: a federated trust domain's bundle, a JWKS for
//! the `jwt` auth method. The caller brings the TLS client configuration (what to trust is
//! its decision); this module bounds the time and the size of the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

/// How long one fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches `url` (`https://host[:port][/path]`) over `tls`; a 200 answer's body of at most
/// `max` bytes, or why not.
pub(crate) async fn https_get(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    max: usize,
) -> Result<Vec<u8>, String> {
    tokio::time::timeout(TIMEOUT, get(url, tls, max))
        .await
        .map_err(|_| format!("{url} did not answer within {}s", TIMEOUT.as_secs()))?
}

async fn get(url: &str, tls: Arc<rustls::ClientConfig>, max: usize) -> Result<Vec<u8>, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url} is not an https URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = split_host_port(authority)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|_| "the URL's host is invalid")?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {authority}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if res.status() != hyper::StatusCode::OK {
        return Err(format!("{url} answered {}", res.status()));
    }
    Limited::new(res.into_body(), max)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|_| format!("the answer from {url} is larger than {max} bytes or was cut"))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` (443 by default).
fn split_host_port(authority: &str) -> Result<(&str, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an unclosed [ in the URL")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| "the URL's port is not a number")?,
        None => 443,
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    Ok((host, port))
}

/// A client configuration trusting exactly the PEM CA certificates in `ca_pem`.
pub(crate) fn trusting(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for der in crate::auth::cert::ca_ders(ca_pem).map_err(|e| e.to_string())? {
        roots
            .add(der.into())
            .map_err(|e| format!("a CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CA certificate to trust".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn authorities_split() {
        assert_eq!(split_host_port("a.test"), Ok(("a.test", 443)));
        assert_eq!(split_host_port("a.test:8443"), Ok(("a.test", 8443)));
        assert_eq!(split_host_port("[::1]:8443"), Ok(("::1", 8443)));
        assert_eq!(split_host_port("[::1]"), Ok(("::1", 443)));
        for bad in ["", ":1", "a:b", "[::1", "a:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
