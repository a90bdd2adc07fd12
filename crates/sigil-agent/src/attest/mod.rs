//! Who is calling: the `unix` workload attestor.
//!
//! When a connection is accepted, [`Peer::accepted`] records the caller's pid from the
//! socket's peer credentials, opens a pidfd for it (a handle on that very process, which a
//! later process reusing the pid cannot take over) and records the process's start time.
//! On each call [`attest`] reads `/proc/<pid>/status`, `/proc/<pid>/exe` (its path and
//! SHA-256), and only then checks that the pidfd's process is still alive and that the
//! process at `<pid>` still has the recorded start time. If not, the pid may have changed
//! hands while we read, so nothing read is trusted and the call fails with
//! [`Error::AttestationFailed`].
//!
//! Without pidfds (kernels before 5.3) the start-time check alone guards the reads, as
//! SPIRE's agent does. One window remains either way: between the client's `connect()`
//! (when the kernel records its pid) and our `accept()` the client could exit and its pid
//! be reused; closing it needs `SO_PEERPIDFD` (Linux 6.5), which the safe wrappers we use
//! do not offer yet.

mod procfs;
mod users;

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use tokio::net::unix::UCred;

use crate::error::Error;
use crate::selector::{Selector, SelectorSet};

/// Executables larger than this are not hashed (no `unix:sha256` selector): hashing a
/// caller-chosen file must not cost the agent unbounded time.
pub const MAX_HASHED_EXECUTABLE: u64 = 128 * 1024 * 1024;

/// A connected caller, as recorded when its connection was accepted.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The pid, when the socket reported one.
    pid: Option<i32>,
    /// A handle on the process, when the kernel supports pidfds.
    pidfd: Option<OwnedFd>,
    /// The process's start time at accept, from `/proc/<pid>/stat`.
    start_time: Option<u64>,
}

impl Peer {
    /// Records the peer of a just-accepted connection.
    pub(crate) fn accepted(cred: Option<&UCred>) -> Self {
        let Some(pid) = cred.and_then(UCred::pid) else {
            return Self {
                pid: None,
                pidfd: None,
                start_time: None,
            };
        };
        // Open the pidfd first, then read the start time: if the pid already changed
        // hands, both describe the new process and the uid check at attestation sees it.
        let pidfd = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
        Self {
            pid: Some(pid),
            pidfd,
            start_time: read_start_time(Path::new("/proc"), pid),
        }
    }

    /// Whether the process recorded at accept is still the one at `/proc/<pid>`.
    fn still_same(&self, proc_root: &Path, pid: i32) -> bool {
        if let Some(pidfd) = &self.pidfd {
            // A pidfd turns readable when its process exits.
            let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match poll(&mut fds, Some(&zero)) {
                Ok(0) => {}
                _ => return false,
            }
        }
        match (self.start_time, read_start_time(proc_root, pid)) {
            (Some(then), Some(now)) => then == now,
            _ => false,
        }
    }
}

/// The `unix` attestor's settings.
#[derive(Debug, Clone)]
pub(crate) struct UnixAttestor {
    pub(crate) proc_root: PathBuf,
    pub(crate) passwd: PathBuf,
    pub(crate) group: PathBuf,
    pub(crate) max_hashed: u64,
}

impl Default for UnixAttestor {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
            group: PathBuf::from("/etc/group"),
            max_hashed: MAX_HASHED_EXECUTABLE,
        }
    }
}

impl UnixAttestor {
    /// The caller's selectors. Blocking: reads `/proc` and hashes the executable.
    pub(crate) fn attest(&self, peer: &Peer) -> Result<SelectorSet, Error> {
        let pid = peer.pid.ok_or(Error::AttestationFailed)?;
        let dir = self.proc_root.join(pid.to_string());
        let status = std::fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|t| procfs::parse_status(&t))
            .ok_or(Error::AttestationFailed)?;
        let exe = dir.join("exe");
        let path = std::fs::read_link(&exe).map_err(|_| Error::AttestationFailed)?;
        let sha256 = hash_executable(&exe, self.max_hashed);
        if !peer.still_same(&self.proc_root, pid) {
            return Err(Error::AttestationFailed);
        }
        let users = read_or_empty(&self.passwd);
        let groups = read_or_empty(&self.group);
        Ok(unix_selectors(
            &status,
            &users::parse_passwd(&users),
            &users::parse_group(&groups),
            path.to_str(),
            sha256.as_deref(),
        ))
    }
}

fn read_start_time(proc_root: &Path, pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    procfs::parse_start_time(&stat)
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The hex SHA-256 of the file behind `exe` (`/proc/<pid>/exe` opens the very file the
/// process runs, even if it was deleted or replaced), or `None` when it is larger than
/// `limit` or unreadable.
fn hash_executable(exe: &Path, limit: u64) -> Option<String> {
    let file = File::open(exe).ok()?;
    if file.metadata().ok()?.len() > limit {
        return None;
    }
    let mut reader = file.take(limit.saturating_add(1));
    let mut context = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            // The file grew while we read it.
            return None;
        }
        context.update(&buf[..n]);
    }
    Some(hex::encode(context.finish().as_ref()))
}

/// The `unix:` selectors for what was read. Names missing from `/etc/passwd` or
/// `/etc/group` give no name selector; an executable path the kernel marks `(deleted)` gives
/// no `unix:path` (it names a file that is no longer there, or a different one now).
fn unix_selectors(
    status: &procfs::Status,
    users: &std::collections::BTreeMap<u32, String>,
    groups: &std::collections::BTreeMap<u32, String>,
    path: Option<&str>,
    sha256: Option<&str>,
) -> SelectorSet {
    let mut set = SelectorSet::default();
    let mut add = |value: String| {
        if let Ok(s) = Selector::new("unix", value) {
            set.insert(s);
        }
    };
    add(format!("uid:{}", status.uid));
    if let Some(name) = users.get(&status.uid) {
        add(format!("user:{name}"));
    }
    add(format!("gid:{}", status.gid));
    if let Some(name) = groups.get(&status.gid) {
        add(format!("group:{name}"));
    }
    for gid in &status.groups {
        add(format!("supplementary_gid:{gid}"));
        if let Some(name) = groups.get(gid) {
            add(format!("supplementary_group:{name}"));
        }
    }
    if let Some(path) = path.filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)")) {
        add(format!("path:{path}"));
    }
    if let Some(sha256) = sha256 {
        add(format!("sha256:{sha256}"));
    }
    set
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn strings(set: &SelectorSet) -> Vec<String> {
        set.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn selectors_from_what_was_read() {
        let status = procfs::Status {
            uid: 1000,
            gid: 100,
            groups: vec![4, 999],
        };
        let users = BTreeMap::from([(1000, "app".to_owned())]);
        let groups = BTreeMap::from([(100, "users".to_owned()), (4, "adm".to_owned())]);
        let set = unix_selectors(&status, &users, &groups, Some("/usr/bin/app"), Some("ab12"));
        assert_eq!(
            strings(&set),
            [
                "unix:gid:100",
                "unix:group:users",
                "unix:path:/usr/bin/app",
                "unix:sha256:ab12",
                "unix:supplementary_gid:4",
                "unix:supplementary_gid:999",
                "unix:supplementary_group:adm",
                "unix:uid:1000",
                "unix:user:app",
            ]
        );
        let set = unix_selectors(
            &status,
            &BTreeMap::new(),
            &BTreeMap::new(),
            Some("/usr/bin/app (deleted)"),
            None,
        );
        assert_eq!(
            strings(&set),
            [
                "unix:gid:100",
                "unix:supplementary_gid:4",
                "unix:supplementary_gid:999",
                "unix:uid:1000"
            ]
        );
    }

    #[test]
    fn executables_over_the_limit_are_not_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exe");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(
            hash_executable(&file, 3).as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(hash_executable(&file, 2), None);
    }

    #[test]
    fn attests_this_process_and_refuses_a_dead_one() {
        let me = std::process::id() as i32;
        let cred_pid = Some(me);
        let peer = Peer {
            pid: cred_pid,
            pidfd: Pid::from_raw(me).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok()),
            start_time: read_start_time(Path::new("/proc"), me),
        };
        let set = UnixAttestor::default().attest(&peer).unwrap();
        let uid = format!("unix:uid:{}", rustix::process::getuid().as_raw());
        assert!(strings(&set).contains(&uid), "{set:?}");
        assert!(set.iter().any(|s| s.value().starts_with("sha256:")));
        assert!(set.iter().any(|s| s.value().starts_with("path:/")));

        // A different start time: the pid changed hands.
        let reused = Peer {
            pid: cred_pid,
            pidfd: None,
            start_time: peer.start_time.map(|t| t + 1),
        };
        assert!(matches!(
            UnixAttestor::default().attest(&reused),
            Err(Error::AttestationFailed)
        ));

        // A process that has exited (its pidfd is readable), even if the pid still reads.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let child_pid = child.id() as i32;
        let child_fd = pidfd_open(Pid::from_raw(child_pid).unwrap(), PidfdFlags::empty()).ok();
        let start_time = read_start_time(Path::new("/proc"), child_pid);
        child.wait().unwrap();
        let gone = Peer {
            pid: Some(child_pid),
            pidfd: child_fd,
            start_time,
        };
        assert!(matches!(
            UnixAttestor::default().attest(&gone),
            Err(Error::AttestationFailed)
        ));
        assert!(matches!(
            UnixAttestor::default().attest(&Peer::accepted(None)),
            Err(Error::AttestationFailed)
        ));
    }
}
