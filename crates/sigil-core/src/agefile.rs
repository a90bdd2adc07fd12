//! age files (age-encryption.org/v1), through the `age` crate.
//!
//! The `age` crate owns the format and its cryptography (X25519 and scrypt stanzas, the header
//! MAC, the chunked ChaCha20-Poly1305 payload); this module is the narrow, typed door Sigil uses:
//! parsing recipients and identity files, and streaming encryption and decryption over whatever
//! reader and writer the caller opened. Memory use does not depend on the file size: the payload
//! moves in 64 KiB chunks.
//!
//! Decryption is chunk-authenticated: [`DecryptingReader`] only ever returns plaintext from a
//! chunk whose tag verified, and reports a truncated or tampered stream as an error carrying
//! [`Error::decryption`]. It cannot know that the *whole* stream is intact until it reaches the
//! final chunk, so callers that must not release a partial plaintext (the CLI) buffer the output
//! and publish it only after the reader reached its end without error.
//!
//! Both binary and ASCII-armored (`-----BEGIN AGE ENCRYPTED FILE-----`) inputs are accepted;
//! armor is detected automatically.

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret as _;

use crate::error::{AuthFailure, Error, Result};
use crate::secret::SecretString;

/// The largest scrypt work factor (log2 N) accepted when decrypting a passphrase-protected file.
///
/// The same cap as the reference Go implementation, so every file `age -p` can make opens here.
/// A fixed cap (rather than one scaled to this machine's speed) keeps behaviour identical
/// everywhere and bounds what a hostile file can make us spend: at 2^22, scrypt with r = 8
/// needs 4 GiB and a few seconds. `age -p` and `sigil encrypt -p` write 18–20.
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 22;

/// An age recipient: who a file is encrypted to. Public information.
pub struct Recipient {
    text: String,
    inner: age::x25519::Recipient,
}

impl Recipient {
    /// The recipient in its `age1…` form.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Recipient {
    type Err = Error;

    /// Parses an `age1…` X25519 recipient.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let inner = s.parse::<age::x25519::Recipient>().map_err(|_| {
            Error::malformed(
                "age recipient",
                "expected an X25519 recipient such as age1qyqs… (see `sigil keygen age`)",
            )
        })?;
        Ok(Self {
            text: s.to_owned(),
            inner,
        })
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Recipient").field(&self.text).finish()
    }
}

/// Parses a recipients file: one `age1…` recipient per line; blank lines and lines starting
/// with `#` are ignored.
pub fn parse_recipients_file(text: &str) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r = line.parse::<Recipient>().map_err(|_| {
            Error::malformed(
                "recipients file",
                format!("line {} is not an age1… recipient", n + 1),
            )
        })?;
        out.push(r);
    }
    if out.is_empty() {
        return Err(Error::malformed(
            "recipients file",
            "it contains no recipients",
        ));
    }
    Ok(out)
}

/// An age X25519 identity: the secret that opens files encrypted to its recipient.
pub struct Identity(age::x25519::Identity);

impl Identity {
    /// A new random identity.
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// The recipient (public key) that encrypts to this identity.
    pub fn to_recipient(&self) -> Recipient {
        let inner = self.0.to_public();
        Recipient {
            text: inner.to_string(),
            inner,
        }
    }

    /// The identity in its `AGE-SECRET-KEY-1…` form.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::new(self.0.to_string().expose_secret().to_owned())
    }

    /// An identity file as `age-keygen` writes it: comment lines with the creation time (when
    /// given) and the public key, then the secret key line.
    pub fn to_identity_file(&self, created: Option<&str>) -> SecretString {
        let mut text = String::new();
        if let Some(created) = created {
            text.push_str(&format!("# created: {created}\n"));
        }
        text.push_str(&format!("# public key: {}\n", self.to_recipient().as_str()));
        text.push_str(self.to_secret_string().expose_secret());
        text.push('\n');
        SecretString::new(text)
    }
}

impl FromStr for Identity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        s.trim()
            .parse::<age::x25519::Identity>()
            .map(Self)
            .map_err(|_| Error::malformed("age identity", "expected AGE-SECRET-KEY-1…"))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.to_recipient().as_str())
    }
}

/// Parses an identity file: `AGE-SECRET-KEY-1…` lines, with blank lines and `#` comments
/// ignored. Errors name the line, never its contents.
pub fn parse_identity_file(text: &[u8]) -> Result<Vec<Identity>> {
    let text = std::str::from_utf8(text)
        .map_err(|_| Error::malformed("identity file", "it is not UTF-8 text"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = line.parse::<Identity>().map_err(|_| {
            Error::malformed(
                "identity file",
                format!("line {} is not an AGE-SECRET-KEY-1… identity", n + 1),
            )
        })?;
        out.push(id);
    }
    if out.is_empty() {
        return Err(Error::malformed(
            "identity file",
            "it contains no identities",
        ));
    }
    Ok(out)
}

/// Whom a new file is encrypted to.
#[derive(Debug)]
pub enum EncryptTo<'a> {
    /// One or more X25519 recipients.
    Recipients(&'a [Recipient]),
    /// A passphrase (scrypt). It must be the only recipient, as the age format requires.
    Passphrase(SecretString),
}

/// A writer that encrypts everything written to it into an age file.
///
/// [`Encryptor::finish`] must be called: it writes the final chunk. Dropping the encryptor
/// without finishing leaves a truncated file that will not decrypt.
pub struct Encryptor<W: Write> {
    stream: age::stream::StreamWriter<ArmoredWriter<W>>,
}

impl<W: Write> Encryptor<W> {
    /// Writes the age header to `output` and returns the encrypting writer.
    pub fn new(to: &EncryptTo<'_>, armor: bool, output: W) -> Result<Self> {
        let encryptor = match to {
            EncryptTo::Recipients(rs) => {
                if rs.is_empty() {
                    return Err(Error::malformed(
                        "recipients",
                        "at least one recipient is needed",
                    ));
                }
                age::Encryptor::with_recipients(rs.iter().map(|r| &r.inner as &dyn age::Recipient))
                    .map_err(|_| Error::Internal("age could not wrap the file key"))?
            }
            EncryptTo::Passphrase(p) => {
                if p.is_empty() {
                    return Err(Error::malformed("passphrase", "it is empty"));
                }
                age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(
                    p.expose_secret().to_owned(),
                ))
            }
        };
        let format = if armor {
            Format::AsciiArmor
        } else {
            Format::Binary
        };
        let armored = ArmoredWriter::wrap_output(output, format).map_err(io_internal)?;
        let stream = encryptor.wrap_output(armored).map_err(io_internal)?;
        Ok(Self { stream })
    }

    /// Writes the final chunk (and the armor footer) and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.stream.finish()?.finish()
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<W: Write> fmt::Debug for Encryptor<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Encryptor")
    }
}

type Source<R> = ArmoredReader<BufReader<R>>;

/// An age file whose header has been read; not yet decrypted.
pub struct Decryptor<R: Read> {
    inner: age::Decryptor<Source<R>>,
}

impl<R: Read> Decryptor<R> {
    /// Reads and parses the header (binary or armored).
    pub fn new(input: R) -> Result<Self> {
        let source = ArmoredReader::new(input);
        let inner = age::Decryptor::new_buffered(source).map_err(map_decrypt_error)?;
        Ok(Self { inner })
    }

    /// Whether the file is protected by a passphrase rather than by recipients.
    pub fn is_passphrase(&self) -> bool {
        self.inner.is_scrypt()
    }

    /// Unwraps the file key with one of `identities` and returns the plaintext reader.
    pub fn decrypt(self, identities: &[Identity]) -> Result<DecryptingReader<R>> {
        if self.is_passphrase() {
            return Err(Error::unsupported(
                "this file is protected by a passphrase; decrypt it with the passphrase",
            ));
        }
        let reader = self
            .inner
            .decrypt(identities.iter().map(|i| &i.0 as &dyn age::Identity))
            .map_err(map_decrypt_error)?;
        Ok(DecryptingReader(reader))
    }

    /// Unwraps the file key with a passphrase and returns the plaintext reader.
    pub fn decrypt_with_passphrase(self, passphrase: &SecretString) -> Result<DecryptingReader<R>> {
        if !self.is_passphrase() {
            return Err(Error::unsupported(
                "this file is encrypted to recipients, not a passphrase; give an identity file",
            ));
        }
        let mut identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(
            passphrase.expose_secret().to_owned(),
        ));
        identity.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
        let reader = self
            .inner
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(map_decrypt_error)?;
        Ok(DecryptingReader(reader))
    }
}

impl<R: Read> fmt::Debug for Decryptor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("passphrase", &self.is_passphrase())
            .finish()
    }
}

/// The plaintext of an age file, authenticated chunk by chunk.
///
/// A read error whose inner error is a [`crate::Error`] means the stream was tampered with or
/// truncated; see [`decryption_failure`].
pub struct DecryptingReader<R: Read>(age::stream::StreamReader<Source<R>>);

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            // The age stream reports a failed chunk tag, a bad armor body and a missing final
            // chunk with these kinds; an I/O failure of the caller's reader keeps its own kind.
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                io::Error::new(e.kind(), Error::decryption())
            }
            _ => e,
        })
    }
}

impl<R: Read> fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DecryptingReader")
    }
}

/// If `e` came from a [`DecryptingReader`] because the data failed authentication, the
/// corresponding [`Error`]; `None` for ordinary I/O errors.
pub fn decryption_failure(e: &io::Error) -> Option<Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .cloned()
}

/// Reads `input` to the end through a [`DecryptingReader`] into `output`.
///
/// Returns the number of plaintext bytes. On error, `output` may hold a prefix of the
/// plaintext: callers decide what to do with it (the CLI discards it).
pub fn decrypt_to<R: Read, W: Write>(
    mut reader: DecryptingReader<R>,
    output: &mut W,
) -> std::result::Result<u64, io::Error> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(total)
}

fn map_decrypt_error(e: age::DecryptError) -> Error {
    use age::DecryptError as D;
    match e {
        D::DecryptionFailed | D::KeyDecryptionFailed | D::InvalidMac => Error::decryption(),
        D::NoMatchingKeys => Error::Authentication(AuthFailure::NoMatchingIdentity),
        D::ExcessiveWork { required, .. } => Error::unsupported(format!(
            "the passphrase work factor 2^{required} is above the limit 2^{MAX_SCRYPT_WORK_FACTOR}"
        )),
        D::InvalidHeader => Error::malformed("age file", "invalid header"),
        D::UnknownFormat => Error::malformed("age file", "not an age-encryption.org/v1 file"),
        D::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Error::malformed("age file", "truncated header")
        }
        D::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            Error::malformed("age file", "invalid header or armor")
        }
        D::Io(_) => Error::malformed("age file", "could not read the header"),
        #[allow(
            unreachable_patterns,
            reason = "DecryptError grows variants with crate features"
        )]
        _ => Error::malformed("age file", "unsupported header"),
    }
}

fn io_internal(_: io::Error) -> Error {
    Error::Internal("could not write the age header")
}

/// Whether `prefix` (the first bytes of a file) looks like an age file, binary or armored.
pub fn looks_like_age(prefix: &[u8]) -> bool {
    prefix.starts_with(b"age-encryption.org/")
        || prefix
            .trim_ascii_start()
            .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(to: &EncryptTo<'_>, armor: bool, pt: &[u8]) -> Vec<u8> {
        let mut e = Encryptor::new(to, armor, Vec::new()).unwrap();
        e.write_all(pt).unwrap();
        e.finish().unwrap()
    }

    fn decrypt(ids: &[Identity], ct: &[u8]) -> Result<Vec<u8>> {
        let r = Decryptor::new(ct)?.decrypt(ids)?;
        let mut out = Vec::new();
        decrypt_to(r, &mut out).map_err(|e| decryption_failure(&e).unwrap())?;
        Ok(out)
    }

    #[test]
    fn round_trip_binary_and_armored_with_two_recipients() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let rs = [a.to_recipient(), b.to_recipient()];
        let pt = vec![7u8; 200_000];
        for armor in [false, true] {
            let ct = encrypt(&EncryptTo::Recipients(&rs), armor, &pt);
            assert!(looks_like_age(&ct));
            assert_eq!(decrypt(std::slice::from_ref(&a), &ct).unwrap(), pt);
            assert_eq!(decrypt(std::slice::from_ref(&b), &ct).unwrap(), pt);
        }
    }

    #[test]
    fn passphrase_round_trip() {
        let pp = SecretString::from("correct horse battery staple");
        let ct = encrypt(&EncryptTo::Passphrase(pp.clone()), false, b"hello");
        let d = Decryptor::new(&ct[..]).unwrap();
        assert!(d.is_passphrase());
        let mut out = Vec::new();
        decrypt_to(d.decrypt_with_passphrase(&pp).unwrap(), &mut out).unwrap();
        assert_eq!(out, b"hello");
        let wrong = Decryptor::new(&ct[..])
            .unwrap()
            .decrypt_with_passphrase(&SecretString::from("wrong"))
            .unwrap_err();
        assert_eq!(wrong, Error::decryption());
    }

    #[test]
    fn wrong_identity_is_reported_as_no_match() {
        let ct = encrypt(
            &EncryptTo::Recipients(&[Identity::generate().to_recipient()]),
            false,
            b"x",
        );
        let err = decrypt(&[Identity::generate()], &ct).unwrap_err();
        assert_eq!(err, Error::Authentication(AuthFailure::NoMatchingIdentity));
    }

    #[test]
    fn tampering_and_truncation_fail() {
        let id = Identity::generate();
        let rs = [id.to_recipient()];
        let pt = vec![1u8; 150_000];
        let ct = encrypt(&EncryptTo::Recipients(&rs), false, &pt);
        let ids = std::slice::from_ref(&id);
        // A flipped bit in the payload, the header MAC, and truncations at several points.
        for at in [ct.len() - 1, ct.len() - 70_000, 100] {
            let mut bad = ct.clone();
            bad[at] ^= 1;
            assert!(decrypt(ids, &bad).is_err(), "bit flip at {at}");
        }
        for len in [0, 10, 60, ct.len() - 1, ct.len() - 17, 65_536 + 200] {
            assert!(decrypt(ids, &ct[..len]).is_err(), "truncated to {len}");
        }
    }

    #[test]
    fn identity_file_parsing() {
        let id = Identity::generate();
        let text = id.to_identity_file(Some("2026-11-23T00:00:00Z"));
        let parsed = parse_identity_file(text.expose_secret().as_bytes()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed[0].to_recipient().as_str(),
            id.to_recipient().as_str()
        );
        let err = parse_identity_file(b"# c\nnot a key\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("not a key"), "{err}");
        assert!(parse_identity_file(b"# only a comment\n").is_err());
        assert!(parse_identity_file(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let id = Identity::generate();
        let secret = id.to_secret_string();
        assert!(!format!("{id:?}").contains(secret.expose_secret()));
    }

    #[test]
    fn recipient_parsing() {
        let r = Identity::generate().to_recipient();
        assert_eq!(
            r.as_str().parse::<Recipient>().unwrap().as_str(),
            r.as_str()
        );
        assert!("age1notvalid".parse::<Recipient>().is_err());
        assert!("".parse::<Recipient>().is_err());
        let file = format!("# team\n\n{}\n", r.as_str());
        assert_eq!(parse_recipients_file(&file).unwrap().len(), 1);
        assert!(parse_recipients_file("# nothing\n").is_err());
    }
}
