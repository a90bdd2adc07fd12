//! The floor under every Sigil request: Sigil's HTTP stack (tokio, hyper's HTTP/1.1 and
//! HTTP/2 server, rustls with Sigil's own TLS configuration, mimalloc) answering with no work
//! at all. `GET /` answers `hello`, `POST /echo` echoes its body: the harness's `hello` and
//! `post1k` scenarios. `bench/server.sh` runs it with `BENCH_HELLO=1`, so that a run shows
//! how much of a request's time and CPU this stack alone takes on the machine at hand.
//!
//!   cargo run --release -p sigil-server --example tls_floor -- 127.0.0.1:8290 CERT KEY

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::convert::Infallible;
use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// The allocator the `sigil` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn answer(req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let body = if req.uri().path() == "/echo" {
        req.into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default()
    } else {
        Bytes::from_static(b"hello")
    };
    Ok(hyper::Response::new(Full::new(body)))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, cert, key] = args.as_slice() else {
        panic!("usage: tls_floor 127.0.0.1:PORT CERT_PEM KEY_PEM");
    };
    assert!(addr.starts_with("127."), "loopback only");
    let tls = sigil_server::http::tls_config(Path::new(cert), Path::new(key)).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), hyper::service::service_fn(answer))
                .await;
        });
    }
}
