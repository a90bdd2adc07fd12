//! Sigil's node agent: the SPIFFE Workload API, served over a Unix socket to the
//! workloads of one node.
//!
//! A workload connects, the agent finds out who it is from the kernel (the socket's peer
//! pid, pinned with a pidfd, then `/proc`: uid, gid, groups, executable path and hash) and
//! hands it the identities of the [`Cache`] whose selectors it has. The Workload API decides
//! nothing about entries itself: [`node`] attests the agent to the server and keeps the
//! cache filled (through [`Cache::replace`]), and the binary implements [`JwtAuthority`]
//! over the server's JWT-SVIDs and the cached JWT bundles.
//!
//! Entry points: [`node::Node`] (the server side) and [`serve`] (the Workload API).

#![forbid(unsafe_code)]

mod attest;
mod authority;
mod cache;
mod error;
mod jwt;
mod listener;
pub mod node;
mod proto;
mod selector;
mod service;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

pub use attest::MAX_HASHED_EXECUTABLE;
pub use cache::{Cache, CacheState, Entry};
pub use error::Error;
pub use jwt::{Claims, JwtAuthority, JwtError, NoJwtAuthority};
pub use selector::{Selector, SelectorSet};

/// Serves the Workload API on the Unix socket `socket` until `shutdown` completes.
///
/// The socket's directory must exist; a stale socket file is replaced; the socket is made
/// world-connectable (attestation, not file permissions, decides who gets what). On
/// shutdown every open stream ends and the socket file is removed.
pub async fn serve(
    socket: &Path,
    cache: Arc<Cache>,
    jwt: Arc<dyn JwtAuthority>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let listener = listener::bind(socket)?;
    let (stop, stopping) = watch::channel(false);
    let api = service::WorkloadApi::new(cache, jwt, stopping);
    let signal = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    let served = tonic::transport::Server::builder()
        .add_service(proto::spiffe_workload_api_server::SpiffeWorkloadApiServer::new(api))
        .serve_with_incoming_shutdown(listener::incoming(listener), signal)
        .await;
    // Best effort: a later agent replaces a stale socket anyway.
    let _ = std::fs::remove_file(socket);
    served.map_err(|e| Error::Socket {
        path: socket.to_owned(),
        reason: format!("serving failed: {e}"),
    })
}
