//! The CLI's error type and its exit codes: the one place where a failure becomes a number.
//!
//! | code | meaning |
//! | ---: | --- |
//! | 0 | success (for `verify`: the signature is valid) |
//! | 1 | verification failed: invalid signature, MAC or password mismatch, decryption failed (wrong key, tampered or truncated data) |
//! | 2 | usage error: bad flags or arguments, an operation the key does not support |
//! | 3 | malformed input: a key, signature, ciphertext or encoding that cannot be parsed |
//! | 4 | I/O error: a file that cannot be read or written |
//! | 70 | internal error (a bug, or the system random source failed) |
//!
//! Every error prints as one line on stderr, `sigil: <message>`, naming the problem and never
//! containing secret material.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::ExitCode;

use sigil_core::error::Error as CoreError;

/// Exit codes, documented in `sigil --help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Failed = 1,
    Usage = 2,
    BadInput = 3,
    Io = 4,
    Refused = 5,
    Internal = 70,
}

/// A failed command: the exit code and a one-line message.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: Code,
    pub(crate) message: String,
}

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    pub(crate) fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Code::BadInput, message)
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(Code::Failed, message)
    }

    /// An I/O failure on `path` while doing `action` ("read", "write", ...).
    pub(crate) fn io(action: &str, path: &Path, e: &io::Error) -> Self {
        Self::new(
            Code::Io,
            format!("cannot {action} {}: {}", path.display(), io_reason(e)),
        )
    }

    /// Prefixes the message with context, keeping the code.
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code as u8)
    }
}

impl From<sigil_client::Error> for CliError {
    fn from(e: sigil_client::Error) -> Self {
        let code = match e {
            sigil_client::Error::Config(_) => Code::Usage,
            sigil_client::Error::Transport(_) => Code::Io,
            sigil_client::Error::Api { .. } => Code::Refused,
        };
        Self::new(code, e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::Authentication(_) => Code::Failed,
            CoreError::Malformed { .. } | CoreError::TooLarge { .. } => Code::BadInput,
            CoreError::Unsupported(_) => Code::Usage,
            CoreError::KeyState(_) => Code::Failed,
            CoreError::Internal(_) => Code::Internal,
            _ => Code::Internal,
        };
        Self::new(code, e.to_string())
    }
}

/// Maps an error met while streaming decrypted data: an authentication failure inside the age
/// stream becomes exit 1 naming `path`, anything else is an I/O error on `path`.
pub(crate) fn stream_error(action: &str, path: &Path, e: &io::Error) -> CliError {
    match sigil_core::agefile::decryption_failure(e) {
        Some(core) => CliError::from(core).context(path.display()),
        None => CliError::io(action, path, e),
    }
}

/// The human part of an I/O error, without the "(os error N)" suffix.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AlreadyExists => "it already exists (use --force to replace it)".into(),
        io::ErrorKind::IsADirectory => "it is a directory".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_documented_codes() {
        assert_eq!(CliError::from(CoreError::decryption()).code, Code::Failed);
        assert_eq!(
            CliError::from(CoreError::bad_signature()).code,
            Code::Failed
        );
        assert_eq!(
            CliError::from(CoreError::malformed("PEM", "x")).code,
            Code::BadInput
        );
        assert_eq!(
            CliError::from(CoreError::unsupported("x")).code,
            Code::Usage
        );
        assert_eq!(
            CliError::from(CoreError::Internal("x")).code,
            Code::Internal
        );
    }

    #[test]
    fn io_errors_name_the_path_without_os_codes() {
        let e = CliError::io(
            "read",
            Path::new("/nope"),
            &io::Error::from(io::ErrorKind::NotFound),
        );
        assert_eq!(
            e.to_string(),
            "cannot read /nope: no such file or directory"
        );
        assert_eq!(e.code, Code::Io);
    }
}
