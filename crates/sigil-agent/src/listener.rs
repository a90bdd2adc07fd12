//! The Workload API socket: binding it, and accepting connections with their caller
//! recorded.
//!
//! Each accepted stream is wrapped in a [`CallerStream`] whose connect info (which tonic
//! puts in every request's extensions) carries the [`Peer`] taken at accept time, pidfd
//! included, so attestation later refers to the process that connected. What the client
//! sends passes through the [`AuthorityFilter`] (see `authority.rs` for why).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::Stream;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use crate::attest::Peer;
use crate::authority::AuthorityFilter;
use crate::error::Error;

/// The Workload API socket is world-connectable, like SPIRE's: any local process may ask
/// who it is; what it gets is decided by attestation.
const SOCKET_MODE: u32 = 0o777;

/// Binds the Workload API socket at `path`. Its directory must exist. A socket file left
/// behind by an earlier agent is replaced; any other file there is an error.
pub(crate) fn bind(path: &Path) -> Result<UnixListener, Error> {
    let fail = |reason: String| Error::Socket {
        path: path.to_owned(),
        reason,
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| fail("the path has no directory".to_owned()))?;
    if !parent.is_dir() {
        return Err(fail(format!(
            "the directory {} does not exist: create it first",
            parent.display()
        )));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?,
        Ok(_) => {
            return Err(fail(
                "a file that is not a socket is in the way; remove it or choose another path"
                    .to_owned(),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(format!("cannot bind: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| fail(format!("cannot make the socket world-connectable: {e}")))?;
    Ok(listener)
}

/// The connections of `listener`, each with its caller recorded.
pub(crate) fn incoming(
    listener: UnixListener,
) -> impl Stream<Item = io::Result<CallerStream>> + Send + 'static {
    UnixListenerStream::new(listener).map(|accepted| accepted.map(CallerStream::new))
}

/// What tonic hands each request about its connection.
#[derive(Debug, Clone)]
pub(crate) struct CallerInfo {
    /// The socket's peer credentials (pid, uid, gid at `connect()`).
    #[allow(
        dead_code,
        reason = "kept for logs and future attestors; attestation uses `peer`"
    )]
    pub(crate) uds: UdsConnectInfo,
    /// The caller's process, as recorded at accept.
    pub(crate) peer: Arc<Peer>,
}

/// An accepted Unix stream and its caller.
#[derive(Debug)]
pub(crate) struct CallerStream {
    io: UnixStream,
    info: CallerInfo,
    filter: AuthorityFilter,
    /// Filtered bytes not yet handed to the server, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
    /// The client closed its side.
    eof: bool,
}

impl CallerStream {
    fn new(io: UnixStream) -> Self {
        let uds = io.connect_info();
        let peer = Arc::new(Peer::accepted(uds.peer_cred.as_ref()));
        Self {
            io,
            info: CallerInfo { uds, peer },
            filter: AuthorityFilter::default(),
            ready: Vec::new(),
            ready_at: 0,
            eof: false,
        }
    }
}

impl Connected for CallerStream {
    type ConnectInfo = CallerInfo;

    fn connect_info(&self) -> CallerInfo {
        self.info.clone()
    }
}

impl AsyncRead for CallerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
                this.filter.finish(&mut this.ready);
            } else {
                this.filter.feed(read.filled(), &mut this.ready);
            }
        }
    }
}

impl AsyncWrite for CallerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bind_replaces_a_stale_socket_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o777);
        drop(first);
        // The file of a dead agent is still there; a new agent takes its place.
        assert!(path.exists());
        let _second = bind(&path).unwrap();

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, b"keep me").unwrap();
        assert!(matches!(bind(&file), Err(Error::Socket { .. })));
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

        let orphan = dir.path().join("missing/api.sock");
        let err = bind(&orphan).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
