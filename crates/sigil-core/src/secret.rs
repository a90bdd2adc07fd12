//! Containers for secret bytes and strings: zeroized on drop, redacted in `Debug`, compared in
//! constant time, and read only through an explicit `expose_secret()`.
//!
//! Key types elsewhere in the crate hold their material in these (or in `Zeroizing` arrays) and
//! write their own `Debug`, so a stray `{:?}` in a log line prints `[redacted]`.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes: key material, plaintext of a secret, a data key.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are zeroized when this value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for its own copy.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// A zero-filled secret of `len` bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Self {
        Self::new(vec![0; len])
    }

    /// The secret bytes. Named so that every read of a secret is visible in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for filling a buffer in place.
    pub fn expose_secret_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// Length in bytes. Lengths are not secret.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.expose_secret().ct_eq(other.expose_secret())
    }
}

impl PartialEq for SecretBytes {
    /// Constant time in the contents (the length is not secret).
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretBytes {}

/// A secret string: a password, a passphrase, a pepper, an encoded private key.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `s`; it is zeroized when this value drops.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The secret text.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

/// Zeroizes a `Vec<u8>` that held secret data and is about to be dropped or reused.
pub fn wipe(buf: &mut Vec<u8>) {
    buf.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::copy_from(b"hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let t = SecretString::from("hunter2");
        assert_eq!(format!("{t:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(t)), "Some([redacted])");
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretBytes::copy_from(b"a"), SecretBytes::copy_from(b"a"));
        assert_ne!(SecretBytes::copy_from(b"a"), SecretBytes::copy_from(b"b"));
        assert_ne!(SecretBytes::copy_from(b"a"), SecretBytes::copy_from(b"ab"));
    }
}
