//! Encodings: base64 (four variants), hex and PEM.
//!
//! **Encoding is not encryption.** Everything here changes only how bytes are written down;
//! anyone can reverse it without a key. The module is kept apart from the cryptographic ones so
//! that the difference is visible in the API, and the CLI's `encode`/`decode` help says the same.
//!
//! Decoders are strict: base64 must be canonical for its variant (padding exactly where the
//! variant requires it, no stray bits), hex must have an even number of digits, PEM must follow
//! RFC 7468. Callers that accept human-pasted input strip whitespace themselves first.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::error::{Error, Result};

/// A reversible text encoding of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// RFC 4648 §4 base64 with `=` padding.
    Base64,
    /// RFC 4648 §4 base64 without padding.
    Base64NoPad,
    /// RFC 4648 §5 URL-safe base64 with `=` padding.
    Base64Url,
    /// RFC 4648 §5 URL-safe base64 without padding (JOSE's "base64url").
    Base64UrlNoPad,
    /// Lower-case hexadecimal (decoding accepts either case).
    Hex,
}

impl Encoding {
    /// Every encoding, in the order the CLI lists them.
    pub const ALL: [Self; 5] = [
        Self::Base64,
        Self::Base64NoPad,
        Self::Base64Url,
        Self::Base64UrlNoPad,
        Self::Hex,
    ];

    /// The name used on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Base64 => "base64",
            Self::Base64NoPad => "base64-nopad",
            Self::Base64Url => "base64url",
            Self::Base64UrlNoPad => "base64url-nopad",
            Self::Hex => "hex",
        }
    }

    /// Encodes `bytes`.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Base64 => STANDARD.encode(bytes),
            Self::Base64NoPad => STANDARD_NO_PAD.encode(bytes),
            Self::Base64Url => URL_SAFE.encode(bytes),
            Self::Base64UrlNoPad => URL_SAFE_NO_PAD.encode(bytes),
            Self::Hex => hex::encode(bytes),
        }
    }

    /// Decodes `text`, which must be canonical for this encoding.
    pub fn decode(self, text: &str) -> Result<Vec<u8>> {
        let engine = match self {
            Self::Base64 => &STANDARD,
            Self::Base64NoPad => &STANDARD_NO_PAD,
            Self::Base64Url => &URL_SAFE,
            Self::Base64UrlNoPad => &URL_SAFE_NO_PAD,
            Self::Hex => {
                return hex::decode(text).map_err(|e| Error::malformed("hex", hex_reason(&e)));
            }
        };
        engine
            .decode(text)
            .map_err(|e| Error::malformed(self.name(), base64_reason(&e)))
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| Error::unsupported(format!("unknown encoding {s:?}")))
    }
}

/// Standard padded base64, the form most formats in Sigil use.
pub fn base64_encode(bytes: &[u8]) -> String {
    Encoding::Base64.encode(bytes)
}

/// Decodes standard padded base64.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    Encoding::Base64.decode(text)
}

/// Unpadded URL-safe base64, as JOSE uses it.
pub fn base64url_encode(bytes: &[u8]) -> String {
    Encoding::Base64UrlNoPad.encode(bytes)
}

/// Decodes unpadded URL-safe base64.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>> {
    Encoding::Base64UrlNoPad.decode(text)
}

/// Lower-case hex. (Written out rather than `hex::encode`, which builds the string one
/// `char` at a time: the server hex-encodes several HMACs per request.)
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex in either case.
pub fn hex_decode(text: &str) -> Result<Vec<u8>> {
    Encoding::Hex.decode(text)
}

// Reasons name the position and kind of the fault, never the offending bytes, because decoders
// also see secret material (private keys, data keys).
fn base64_reason(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) => format!("invalid character at offset {at}"),
        base64::DecodeError::InvalidLength(len) => format!("invalid length {len}"),
        base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("non-canonical final character at offset {at}")
        }
        base64::DecodeError::InvalidPadding => "padding is missing, extra or misplaced".into(),
    }
}

fn hex_reason(e: &hex::FromHexError) -> String {
    match e {
        hex::FromHexError::InvalidHexCharacter { index, .. } => {
            format!("invalid character at offset {index}")
        }
        hex::FromHexError::OddLength => "odd number of digits".into(),
        hex::FromHexError::InvalidStringLength => "wrong length".into(),
    }
}

/// One PEM block (RFC 7468): a type label and the DER bytes it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    /// The label between `-----BEGIN ` and `-----`, e.g. `PRIVATE KEY`.
    pub label: String,
    /// The decoded contents.
    pub der: Vec<u8>,
}

impl fmt::Debug for Pem {
    /// PEM blocks often carry private keys, so the contents are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pem")
            .field("label", &self.label)
            .field("der", &format_args!("[{} bytes]", self.der.len()))
            .finish()
    }
}

impl Pem {
    /// Encodes as PEM text with LF line endings and 64-column lines.
    pub fn encode(label: &str, der: &[u8]) -> Result<String> {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
            .map_err(|e| Error::malformed("PEM label", e.to_string()))
    }

    /// Decodes exactly one PEM block. Surrounding whitespace is allowed; other text is not.
    pub fn decode(text: &str) -> Result<Self> {
        let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
            .map_err(|e| Error::malformed("PEM", pem_reason(e)))?;
        Ok(Self {
            label: label.to_owned(),
            der,
        })
    }

    /// Decodes a PEM block and checks its label.
    pub fn decode_expecting(text: &str, label: &str) -> Result<Vec<u8>> {
        let pem = Self::decode(text)?;
        if pem.label != label {
            return Err(Error::malformed(
                "PEM",
                format!("expected a {label:?} block, found {:?}", pem.label),
            ));
        }
        Ok(pem.der)
    }

    /// Whether `text` looks like PEM (starts with a BEGIN line after optional whitespace).
    pub fn looks_like_pem(text: &[u8]) -> bool {
        text.trim_ascii_start().starts_with(b"-----BEGIN ")
    }
}

fn pem_reason(e: pem_rfc7468::Error) -> String {
    use pem_rfc7468::Error as E;
    match e {
        E::Base64(_) => "invalid base64 in the body".into(),
        E::CharacterEncoding => "not ASCII text".into(),
        E::EncapsulatedText => "invalid text between the BEGIN and END lines".into(),
        E::HeaderDisallowed => "headers are not allowed".into(),
        E::Label => "invalid type label".into(),
        E::Length => "invalid length".into(),
        E::Preamble => "missing or invalid BEGIN line".into(),
        E::PreEncapsulationBoundary => "missing or invalid BEGIN line".into(),
        E::PostEncapsulationBoundary => "missing or invalid END line".into(),
        E::UnexpectedTypeLabel { expected } => format!("expected a {expected:?} block"),
        _ => "invalid PEM".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encode_is_lower_case_and_agrees_with_the_hex_crate() {
        assert_eq!(hex_encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex_encode(&[]), "");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_encode(&all), hex::encode(&all));
    }

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 §10.
        let cases = [
            ("", "", ""),
            ("f", "Zg==", "66"),
            ("fo", "Zm8=", "666f"),
            ("foo", "Zm9v", "666f6f"),
            ("foob", "Zm9vYg==", "666f6f62"),
            ("fooba", "Zm9vYmE=", "666f6f6261"),
            ("foobar", "Zm9vYmFy", "666f6f626172"),
        ];
        for (plain, b64, hex) in cases {
            assert_eq!(Encoding::Base64.encode(plain.as_bytes()), b64);
            assert_eq!(Encoding::Base64.decode(b64).unwrap(), plain.as_bytes());
            assert_eq!(
                Encoding::Base64NoPad.encode(plain.as_bytes()),
                b64.trim_end_matches('=')
            );
            assert_eq!(Encoding::Hex.encode(plain.as_bytes()), hex);
            assert_eq!(
                Encoding::Hex.decode(&hex.to_uppercase()).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn url_safe_alphabet() {
        let bytes = [0xfb, 0xff, 0xbf];
        assert_eq!(Encoding::Base64.encode(&bytes), "+/+/");
        assert_eq!(Encoding::Base64Url.encode(&bytes), "-_-_");
        assert!(Encoding::Base64.decode("-_-_").is_err());
        assert!(Encoding::Base64Url.decode("+/+/").is_err());
    }

    #[test]
    fn strict_decoding() {
        assert!(Encoding::Base64.decode("Zg").is_err(), "missing padding");
        assert!(
            Encoding::Base64NoPad.decode("Zg==").is_err(),
            "padding where none allowed"
        );
        assert!(
            Encoding::Base64.decode("Zh==").is_err(),
            "non-canonical trailing bits"
        );
        assert!(Encoding::Base64.decode("Zm9v\n").is_err(), "whitespace");
        assert!(Encoding::Hex.decode("abc").is_err());
        assert!(Encoding::Hex.decode("zz").is_err());
    }

    #[test]
    fn errors_do_not_echo_input() {
        let err = Encoding::Base64
            .decode("c2VjcmV0!!")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn names_round_trip() {
        for e in Encoding::ALL {
            assert_eq!(e.name().parse::<Encoding>().unwrap(), e);
        }
    }

    #[test]
    fn pem_round_trip_and_label_check() {
        let text = Pem::encode("PUBLIC KEY", &[1, 2, 3, 4]).unwrap();
        assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let pem = Pem::decode(&format!("\n{text}\n")).unwrap();
        assert_eq!(pem.label, "PUBLIC KEY");
        assert_eq!(pem.der, [1, 2, 3, 4]);
        assert!(Pem::decode_expecting(&text, "PRIVATE KEY").is_err());
        assert!(Pem::decode(&text[..text.len() - 10]).is_err(), "truncated");
        assert!(Pem::decode("garbage").is_err());
        assert!(Pem::decode("").is_err());
    }
}
