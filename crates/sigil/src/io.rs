//! Files, standard streams, progress and prompts for the CLI.
//!
//! The rule this module enforces: **an output file appears complete or not at all.** Every
//! output is written to a temporary file in the destination's directory and renamed over the
//! destination only by [`Output::commit`], after the command finished without error (for
//! decryption: after the whole stream authenticated). Dropping an uncommitted [`Output`]
//! deletes the temporary file. Output to stdout that must not be released early (decrypted
//! plaintext) is spooled the same way and copied out on commit.
//!
//! Durability: small, precious outputs (keys, signatures, secrets) are fsynced before the
//! rename, so they survive a power loss intact. Bulk streams (`encrypt`, `decrypt`, `decode`)
//! are not, as with age, openssl or cp: fsyncing a gigabyte costs more than the encryption.
//! Their rename still makes them all-or-nothing against errors and a crash of the process.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use sigil_core::SecretString;
use tempfile::{NamedTempFile, SpooledTempFile};
use zeroize::Zeroize;

use crate::exit::{CliError, CliResult, stream_error};

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Plaintext spooled for stdout stays in memory up to this size, then moves to an unnamed
/// temporary file (mode 0600, already unlinked).
const SPOOL_IN_MEMORY: usize = 8 * 1024 * 1024;

/// Buffer size for streaming copies.
pub(crate) const COPY_BUFFER: usize = 256 * 1024;

/// What is being written, which decides its file mode and whether it is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Private keys, MAC keys, random secrets: owner-only, fsynced.
    Secret,
    /// Public keys and signatures: world-readable, fsynced.
    Public,
    /// Decrypted or decoded data streams: owner-only, not fsynced.
    SecretStream,
    /// Ciphertext and encoded data streams: world-readable, not fsynced.
    PublicStream,
}

impl Mode {
    fn bits(self) -> u32 {
        match self {
            Self::Secret | Self::SecretStream => 0o600,
            Self::Public | Self::PublicStream => 0o644,
        }
    }

    fn fsync(self) -> bool {
        matches!(self, Self::Secret | Self::Public)
    }
}

/// Where a command reads its data from: a named file or stdin (no path, or `-`).
pub(crate) struct Input {
    reader: Box<dyn Read + Send>,
    len: Option<u64>,
    name: PathBuf,
}

impl Input {
    pub(crate) fn open(path: Option<&Path>) -> CliResult<Self> {
        match path {
            None => Ok(Self::stdin()),
            Some(p) if p == Path::new("-") => Ok(Self::stdin()),
            Some(p) => {
                let f = File::open(p).map_err(|e| CliError::io("read", p, &e))?;
                let meta = f.metadata().map_err(|e| CliError::io("read", p, &e))?;
                if meta.is_dir() {
                    return Err(CliError::io(
                        "read",
                        p,
                        &io::Error::from(io::ErrorKind::IsADirectory),
                    ));
                }
                Ok(Self {
                    reader: Box::new(f),
                    len: Some(meta.len()),
                    name: p.to_owned(),
                })
            }
        }
    }

    fn stdin() -> Self {
        Self {
            reader: Box::new(io::stdin()),
            len: None,
            name: PathBuf::from("<stdin>"),
        }
    }

    /// The path for messages (`<stdin>` for standard input).
    pub(crate) fn name(&self) -> &Path {
        &self.name
    }

    /// The reader, wrapped in a progress bar when the input is large and stderr a terminal.
    pub(crate) fn into_reader(self, verb: &str) -> Box<dyn Read + Send> {
        match self.len {
            Some(len) if len >= PROGRESS_THRESHOLD && io::stderr().is_terminal() => {
                let bar = ProgressBar::new(len).with_message(verb.to_owned());
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                Box::new(bar.wrap_read(self.reader))
            }
            _ => self.reader,
        }
    }

    /// Reads the whole input, refusing more than `limit` bytes.
    pub(crate) fn read_limited(self, limit: u64) -> CliResult<Vec<u8>> {
        let name = self.name.clone();
        let mut buf = Vec::new();
        self.reader
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::io("read", &name, &e))?;
        if buf.len() as u64 > limit {
            return Err(CliError::bad_input(format!(
                "{} is larger than the {} byte limit for this command",
                name.display(),
                limit
            )));
        }
        Ok(buf)
    }
}

/// Reads a small file (a key, a signature), refusing anything over `limit` bytes.
pub(crate) fn read_small_file(path: &Path, limit: u64) -> CliResult<Vec<u8>> {
    Input::open(Some(path))?.read_limited(limit)
}

/// Where a command writes its result.
pub(crate) enum Output {
    /// Standard output, written as produced.
    Stdout(BufWriter<io::Stdout>),
    /// Standard output, released only on commit.
    SpooledStdout(SpooledTempFile),
    /// A file, written to a temporary sibling and renamed on commit.
    File {
        path: PathBuf,
        tmp: BufWriter<NamedTempFile>,
        mode: Mode,
    },
}

impl Output {
    /// An output for `path` (stdout when `None` or `-`). When `hold_stdout` is set, stdout
    /// output is spooled until [`Output::commit`].
    pub(crate) fn create(path: Option<&Path>, mode: Mode, hold_stdout: bool) -> CliResult<Self> {
        match path {
            Some(p) if p != Path::new("-") => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".sigil-")
                    .suffix(".tmp")
                    .tempfile_in(dir)
                    .map_err(|e| CliError::io("write", p, &e))?;
                Ok(Self::File {
                    path: p.to_owned(),
                    tmp: BufWriter::with_capacity(COPY_BUFFER, tmp),
                    mode,
                })
            }
            _ if hold_stdout => Ok(Self::SpooledStdout(SpooledTempFile::new(SPOOL_IN_MEMORY))),
            _ => Ok(Self::Stdout(BufWriter::with_capacity(
                COPY_BUFFER,
                io::stdout(),
            ))),
        }
    }

    /// Creates a new file that must not exist yet (keys), or replaces it with `force`.
    pub(crate) fn create_new(path: &Path, mode: Mode, force: bool) -> CliResult<Self> {
        if !force && path.exists() {
            return Err(CliError::io(
                "write",
                path,
                &io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        Self::create(Some(path), mode, false)
    }

    /// The path for messages.
    pub(crate) fn name(&self) -> &Path {
        match self {
            Self::File { path, .. } => path,
            _ => Path::new("<stdout>"),
        }
    }

    /// Publishes the output: renames the file into place (with its final mode, fsynced first
    /// when the mode asks for it) or releases spooled stdout.
    pub(crate) fn commit(self) -> CliResult<()> {
        match self {
            Self::Stdout(mut w) => w
                .flush()
                .map_err(|e| CliError::io("write", Path::new("<stdout>"), &e)),
            Self::SpooledStdout(mut spool) => {
                let out = Path::new("<stdout>");
                spool
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| CliError::io("write", out, &e))?;
                let mut stdout = io::stdout().lock();
                io::copy(&mut spool, &mut stdout).map_err(|e| CliError::io("write", out, &e))?;
                stdout.flush().map_err(|e| CliError::io("write", out, &e))
            }
            Self::File { path, tmp, mode } => {
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| CliError::io("write", &path, e.error()))?;
                let file = tmp.as_file();
                file.set_permissions(fs::Permissions::from_mode(mode.bits()))
                    .and_then(|()| {
                        if mode.fsync() {
                            file.sync_all()
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(|e| CliError::io("write", &path, &e))?;
                tmp.persist(&path)
                    .map_err(|e| CliError::io("write", &path, &e.error))?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(w) => w.write(buf),
            Self::SpooledStdout(s) => s.write(buf),
            Self::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.write_all(buf),
            Self::SpooledStdout(s) => s.write_all(buf),
            Self::File { tmp, .. } => tmp.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::SpooledStdout(s) => s.flush(),
            Self::File { tmp, .. } => tmp.flush(),
        }
    }
}

/// Feeds `input` to `f` chunk by chunk (with a progress bar for large files).
pub(crate) fn for_each_chunk(input: Input, verb: &str, mut f: impl FnMut(&[u8])) -> CliResult {
    let name = input.name().to_owned();
    let mut reader = input.into_reader(verb);
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::io("read", &name, &e)),
        }
    }
}

/// Copies `reader` to `writer` in [`COPY_BUFFER`] chunks. Read errors are attributed to
/// `in_name` (an authentication failure inside an age stream becomes exit 1), write errors to
/// `out_name`.
pub(crate) fn copy(
    reader: &mut dyn Read,
    in_name: &Path,
    writer: &mut dyn Write,
    out_name: &Path,
) -> CliResult<u64> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.zeroize();
                return Err(stream_error("read", in_name, &e));
            }
        };
        if let Err(e) = writer.write_all(&buf[..n]) {
            buf.zeroize();
            return Err(CliError::io("write", out_name, &e));
        }
        total += n as u64;
    }
    // The buffer may have held plaintext.
    buf.zeroize();
    Ok(total)
}

/// Writes a whole small output (a key, a signature) to `path` or stdout, atomically.
pub(crate) fn write_output(path: Option<&Path>, mode: Mode, bytes: &[u8]) -> CliResult<()> {
    let mut out = Output::create(path, mode, false)?;
    out.write_all(bytes)
        .map_err(|e| CliError::io("write", out.name(), &e))?;
    out.commit()
}

/// Reads a secret (passphrase, password) from `file` if given, else prompts on the terminal.
///
/// A file's contents up to the first newline are the secret. With `confirm`, the prompt asks
/// twice and refuses a mismatch.
pub(crate) fn read_secret(
    file: Option<&Path>,
    prompt: &str,
    confirm: bool,
) -> CliResult<SecretString> {
    if let Some(path) = file {
        let bytes = read_small_file(path, 64 * 1024)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| CliError::bad_input(format!("{} is not UTF-8 text", path.display())))?;
        let secret = SecretString::new(text);
        let line = secret
            .expose_secret()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        return Ok(SecretString::new(line));
    }
    let first = prompt_tty(prompt)?;
    if confirm {
        let second = prompt_tty("Confirm: ")?;
        if first != second {
            return Err(CliError::usage("the two entries do not match"));
        }
    }
    Ok(first)
}

fn prompt_tty(prompt: &str) -> CliResult<SecretString> {
    rpassword::prompt_password(prompt)
        .map(SecretString::new)
        .map_err(|_| {
            CliError::usage(
                "no terminal to ask for the secret on; pass it with --passphrase-file / --password-file",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        {
            let mut out = Output::create(Some(&target), Mode::Secret, false).unwrap();
            out.write_all(b"partial").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn committed_output_has_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("key");
        write_output(Some(&target), Mode::Secret, b"k").unwrap();
        let meta = fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&target).unwrap(), b"k");
        assert!(Output::create_new(&target, Mode::Secret, false).is_err());
        assert!(Output::create_new(&target, Mode::Secret, true).is_ok());
    }

    #[test]
    fn read_limited_refuses_oversized_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        fs::write(&p, vec![0u8; 100]).unwrap();
        assert!(read_small_file(&p, 99).is_err());
        assert_eq!(read_small_file(&p, 100).unwrap().len(), 100);
    }
}
