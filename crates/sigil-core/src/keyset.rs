//! Keysets: a named key with numbered versions, a primary version, rotation and a minimum
//! decryption version, modelled on Vault transit keys and Tink keysets.
//!
//! Every ciphertext, MAC and signature names the version that made it, so data made before a
//! rotation still opens after it, until an operator raises the minimum decryption version or
//! trims old versions. Two encodings of that version are offered:
//!
//! - text, as Vault transit writes it: `vault:v<N>:<base64(body)>`;
//! - binary, as Tink writes it: `0x01 || N as u32 big-endian || body`.
//!
//! The version prefix is not authenticated on its own (as in both models): changing it makes
//! the data open under another key version, which fails authentication.
//!
//! Keysets serialize to a versioned JSON document ([`Keyset::to_bytes`]) that includes the key
//! material; the server encrypts it before storing it.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::aead::{AeadAlgorithm, AeadKey};
use crate::encoding::{base64_decode, base64_encode};
use crate::error::{Error, Result};
use crate::hash::{MacAlgorithm, MacKey};
use crate::keys::{KeyType, PrivateKey, PublicKey, SignatureScheme};
use crate::secret::SecretBytes;

const FORMAT: &str = "sigil.keyset.v1";
const TEXT_PREFIX: &str = "vault:v";
const BINARY_PREFIX: u8 = 0x01;

/// What a keyset's keys are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// Authenticated encryption.
    Aead(AeadAlgorithm),
    /// HMAC.
    Hmac(MacAlgorithm),
    /// Signatures (material: PKCS#8 DER).
    Signing(KeyType),
}

impl KeyKind {
    /// The name, as Vault transit spells key types (`aes256-gcm96`, `hmac`, `ed25519`, ...).
    /// HMAC keysets name their hash: `hmac-sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aead(a) => a.name(),
            Self::Hmac(m) => m.name(),
            Self::Signing(k) => k.name(),
        }
    }

    fn generate_material(self) -> Result<SecretBytes> {
        match self {
            Self::Aead(a) => crate::random::secret_bytes(a.key_len()),
            Self::Hmac(m) => crate::random::secret_bytes(m.tag_len()),
            Self::Signing(KeyType::X25519) => Err(Error::unsupported(
                "x25519 keys cannot sign; a signing keyset needs a signing key type",
            )),
            Self::Signing(k) => PrivateKey::generate(k)?.to_pkcs8_der(),
        }
    }

    /// Checks material and prepares it for use.
    fn prepare(self, material: &SecretBytes) -> Result<Prepared> {
        match self {
            Self::Aead(a) => Ok(Prepared::Aead(AeadKey::new(a, material.expose_secret())?)),
            Self::Hmac(m) => {
                if material.len() < 16 {
                    return Err(Error::malformed(
                        "keyset",
                        "HMAC keys must be at least 16 bytes",
                    ));
                }
                Ok(Prepared::Mac(Box::new(MacKey::new(
                    m,
                    material.expose_secret(),
                )?)))
            }
            Self::Signing(k) => {
                let key = PrivateKey::from_pkcs8_der(material.expose_secret())?;
                if key.key_type() != k {
                    return Err(Error::malformed(
                        "keyset",
                        format!("a {} key in a {k} keyset", key.key_type()),
                    ));
                }
                Ok(Prepared::Signing(Box::new(key)))
            }
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if let Ok(a) = s.parse::<AeadAlgorithm>() {
            return Ok(Self::Aead(a));
        }
        if let Ok(m) = s.parse::<MacAlgorithm>() {
            return Ok(Self::Hmac(m));
        }
        match s.parse::<KeyType>() {
            Ok(KeyType::X25519) | Err(_) => {
                Err(Error::unsupported(format!("unknown key kind {s:?}")))
            }
            Ok(k) => Ok(Self::Signing(k)),
        }
    }
}

/// A key version's material, ready for use.
enum Prepared {
    Aead(AeadKey),
    Mac(Box<MacKey>),
    Signing(Box<PrivateKey>),
}

struct Version {
    material: SecretBytes,
    created_at: u64,
    prepared: Prepared,
}

/// Public information about a key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    /// Creation time (Unix seconds, as given by the caller).
    pub created_at: u64,
}

/// A versioned, rotatable key.
pub struct Keyset {
    name: String,
    kind: KeyKind,
    versions: BTreeMap<u32, Version>,
    primary: u32,
    latest: u32,
    min_decryption_version: u32,
}

/// Output of an encryption: the version and `nonce || ciphertext || tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ciphertext {
    /// The key version that made it.
    pub version: u32,
    /// `nonce || ciphertext || tag`.
    pub body: Vec<u8>,
}

/// A MAC or signature with the version of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The key version that made it.
    pub version: u32,
    /// The MAC or signature bytes.
    pub bytes: Vec<u8>,
}

impl Keyset {
    /// A new keyset with one random version.
    pub fn generate(name: &str, kind: KeyKind, now_unix: u64) -> Result<Self> {
        Self::import(name, kind, kind.generate_material()?, now_unix)
    }

    /// A new keyset whose version 1 is the given material (raw key bytes for AEAD and HMAC,
    /// PKCS#8 DER for signing keys).
    pub fn import(name: &str, kind: KeyKind, material: SecretBytes, now_unix: u64) -> Result<Self> {
        check_name(name)?;
        let prepared = kind.prepare(&material)?;
        let mut versions = BTreeMap::new();
        versions.insert(
            1,
            Version {
                material,
                created_at: now_unix,
                prepared,
            },
        );
        Ok(Self {
            name: name.to_owned(),
            kind,
            versions,
            primary: 1,
            latest: 1,
            min_decryption_version: 1,
        })
    }

    /// The keyset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the keys are for.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The version new data is made with.
    pub fn primary_version(&self) -> u32 {
        self.primary
    }

    /// The newest version (version numbers are never reused).
    pub fn latest_version(&self) -> u32 {
        self.latest
    }

    /// The oldest version still present.
    pub fn min_available_version(&self) -> u32 {
        self.versions.keys().next().copied().unwrap_or(self.latest)
    }

    /// The oldest version that may still open data.
    pub fn min_decryption_version(&self) -> u32 {
        self.min_decryption_version
    }

    /// Every present version with its public information.
    pub fn versions(&self) -> impl Iterator<Item = (u32, VersionInfo)> + '_ {
        self.versions.iter().map(|(v, k)| {
            (
                *v,
                VersionInfo {
                    created_at: k.created_at,
                },
            )
        })
    }

    /// Adds a random new version and makes it primary; returns its number.
    pub fn rotate(&mut self, now_unix: u64) -> Result<u32> {
        self.rotate_to(self.kind.generate_material()?, now_unix)
    }

    /// Adds `material` as a new version and makes it primary; returns its number.
    pub fn rotate_to(&mut self, material: SecretBytes, now_unix: u64) -> Result<u32> {
        let prepared = self.kind.prepare(&material)?;
        let version = self
            .latest
            .checked_add(1)
            .ok_or_else(|| Error::KeyState("the keyset has no version numbers left".into()))?;
        self.versions.insert(
            version,
            Version {
                material,
                created_at: now_unix,
                prepared,
            },
        );
        self.latest = version;
        self.primary = version;
        Ok(version)
    }

    /// Makes an existing version primary (at or above the minimum decryption version).
    pub fn set_primary(&mut self, version: u32) -> Result<()> {
        self.present(version)?;
        if version < self.min_decryption_version {
            return Err(Error::KeyState(
                "the primary version cannot be below the minimum decryption version".into(),
            ));
        }
        self.primary = version;
        Ok(())
    }

    /// Sets the oldest version allowed to open data (`1..=primary`).
    pub fn set_min_decryption_version(&mut self, version: u32) -> Result<()> {
        if version == 0 || version > self.primary {
            return Err(Error::KeyState(format!(
                "the minimum decryption version must be between 1 and the primary version {}",
                self.primary
            )));
        }
        if version < self.min_available_version() {
            return Err(Error::KeyState(
                "cannot lower the minimum decryption version below trimmed versions".into(),
            ));
        }
        self.min_decryption_version = version;
        Ok(())
    }

    /// Deletes every version older than `min_available_version` for good. It must not be above
    /// the minimum decryption version (data those versions open would become unreadable
    /// without the operator first saying so).
    pub fn trim(&mut self, min_available_version: u32) -> Result<()> {
        if min_available_version == 0 || min_available_version > self.min_decryption_version {
            return Err(Error::KeyState(
                "trim version must be between 1 and the minimum decryption version".into(),
            ));
        }
        self.versions.retain(|v, _| *v >= min_available_version);
        Ok(())
    }

    /// The material of a version (for export and backup paths).
    pub fn material(&self, version: u32) -> Result<&SecretBytes> {
        Ok(&self.present(version)?.material)
    }

    fn present(&self, version: u32) -> Result<&Version> {
        self.versions
            .get(&version)
            .ok_or_else(|| Error::KeyState(format!("key version {version} does not exist")))
    }

    /// A version usable to open or verify data.
    fn for_decryption(&self, version: u32) -> Result<&Version> {
        if version > self.latest {
            return Err(Error::KeyState(
                "invalid ciphertext: version is too new".into(),
            ));
        }
        if version < self.min_decryption_version {
            return Err(Error::KeyState(
                "ciphertext or signature version is disallowed by policy (too old)".into(),
            ));
        }
        self.present(version)
    }

    fn wrong_kind(&self, op: &str) -> Error {
        Error::unsupported(format!("{op} is not supported by {} keys", self.kind))
    }

    /// Encrypts with the primary version.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Ciphertext> {
        self.encrypt_with_version(self.primary, plaintext, aad)
    }

    /// Encrypts with a given version (at least the minimum decryption version).
    pub fn encrypt_with_version(
        &self,
        version: u32,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Ciphertext> {
        let v = self.for_decryption(version)?;
        let Prepared::Aead(key) = &v.prepared else {
            return Err(self.wrong_kind("encryption"));
        };
        Ok(Ciphertext {
            version,
            body: key.seal(aad, plaintext)?,
        })
    }

    /// Decrypts data from any allowed version.
    pub fn decrypt(&self, ciphertext: &Ciphertext, aad: &[u8]) -> Result<SecretBytes> {
        let v = self.for_decryption(ciphertext.version)?;
        let Prepared::Aead(key) = &v.prepared else {
            return Err(self.wrong_kind("decryption"));
        };
        key.open(aad, &ciphertext.body)
    }

    /// The prepared AEAD key of a version, for engines that build their own constructions on
    /// it (derived and convergent encryption in transit).
    pub fn aead_key(&self, version: u32) -> Result<&AeadKey> {
        match &self.for_decryption(version)?.prepared {
            Prepared::Aead(key) => Ok(key),
            _ => Err(self.wrong_kind("encryption")),
        }
    }

    /// A MAC with the primary version.
    pub fn mac(&self, data: &[u8]) -> Result<Tag> {
        let Prepared::Mac(key) = &self.present(self.primary)?.prepared else {
            return Err(self.wrong_kind("HMAC"));
        };
        Ok(Tag {
            version: self.primary,
            bytes: key.sign(data),
        })
    }

    /// Checks a MAC in constant time.
    pub fn verify_mac(&self, data: &[u8], tag: &Tag) -> Result<()> {
        let Prepared::Mac(key) = &self.for_decryption(tag.version)?.prepared else {
            return Err(self.wrong_kind("HMAC"));
        };
        key.verify(data, &tag.bytes)
    }

    /// Signs with the primary version.
    pub fn sign(&self, message: &[u8], scheme: SignatureScheme) -> Result<Tag> {
        let key = self.signing_key(self.primary)?;
        Ok(Tag {
            version: self.primary,
            bytes: key.sign(message, scheme)?,
        })
    }

    /// Verifies a signature made by any allowed version.
    pub fn verify(&self, message: &[u8], signature: &Tag, scheme: SignatureScheme) -> Result<()> {
        let v = self.for_decryption(signature.version)?;
        let Prepared::Signing(key) = &v.prepared else {
            return Err(self.wrong_kind("verification"));
        };
        key.public_key().verify(message, &signature.bytes, scheme)
    }

    /// The private key of a version (signing keysets).
    pub fn signing_key(&self, version: u32) -> Result<&PrivateKey> {
        match &self.present(version)?.prepared {
            Prepared::Signing(key) => Ok(key),
            _ => Err(self.wrong_kind("signing")),
        }
    }

    /// The public key of a version (signing keysets).
    pub fn public_key(&self, version: u32) -> Result<&PublicKey> {
        Ok(self.signing_key(version)?.public_key())
    }

    /// The serialized keyset, including key material: encrypt it before storing it.
    pub fn to_bytes(&self) -> Result<SecretBytes> {
        let versions: Vec<SerVersion> = self
            .versions
            .iter()
            .map(|(v, k)| SerVersion {
                version: *v,
                created_at: k.created_at,
                material: Zeroizing::new(base64_encode(k.material.expose_secret())),
            })
            .collect();
        let doc = SerKeyset {
            format: FORMAT.to_owned(),
            name: self.name.clone(),
            kind: self.kind.name().to_owned(),
            primary: self.primary,
            latest: self.latest,
            min_decryption_version: self.min_decryption_version,
            versions,
        };
        let estimate = 256
            + doc
                .versions
                .iter()
                .map(|v| v.material.len() + 64)
                .sum::<usize>();
        let mut out = SecretBytes::new(Vec::with_capacity(estimate));
        serde_json::to_writer(out.expose_secret_mut(), &doc)
            .map_err(|_| Error::Internal("keyset serialization"))?;
        out.expose_secret_mut()
            .flush()
            .map_err(|_| Error::Internal("keyset serialization"))?;
        Ok(out)
    }

    /// Parses a serialized keyset, checking every invariant.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let doc: SerKeyset = serde_json::from_slice(bytes)
            .map_err(|_| Error::malformed("keyset", "not a sigil.keyset.v1 document"))?;
        if doc.format != FORMAT {
            return Err(Error::unsupported(format!(
                "keyset format {:?}",
                doc.format
            )));
        }
        check_name(&doc.name)?;
        let kind: KeyKind = doc.kind.parse()?;
        let mut versions = BTreeMap::new();
        for v in &doc.versions {
            let material = SecretBytes::new(
                base64_decode(&v.material)
                    .map_err(|_| Error::malformed("keyset", "key material is not base64"))?,
            );
            let prepared = kind.prepare(&material)?;
            if v.version == 0 || v.version > doc.latest {
                return Err(Error::malformed("keyset", "a version is out of range"));
            }
            let created_at = v.created_at;
            if versions
                .insert(
                    v.version,
                    Version {
                        material,
                        created_at,
                        prepared,
                    },
                )
                .is_some()
            {
                return Err(Error::malformed("keyset", "a version appears twice"));
            }
        }
        let ok = versions.contains_key(&doc.primary)
            && doc.min_decryption_version >= 1
            && doc.min_decryption_version <= doc.primary
            && versions
                .keys()
                .next()
                .is_some_and(|first| *first <= doc.min_decryption_version);
        if !ok {
            return Err(Error::malformed(
                "keyset",
                "primary or minimum decryption version is inconsistent with the versions present",
            ));
        }
        Ok(Self {
            name: doc.name,
            kind,
            versions,
            primary: doc.primary,
            latest: doc.latest,
            min_decryption_version: doc.min_decryption_version,
        })
    }
}

impl fmt::Debug for Keyset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyset")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("versions", &self.versions.keys().collect::<Vec<_>>())
            .field("primary", &self.primary)
            .field("min_decryption_version", &self.min_decryption_version)
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || name.contains(['/', '\0']) {
        return Err(Error::malformed(
            "keyset name",
            "must be 1-256 characters without '/'",
        ));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SerKeyset {
    format: String,
    name: String,
    kind: String,
    primary: u32,
    latest: u32,
    min_decryption_version: u32,
    versions: Vec<SerVersion>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SerVersion {
    version: u32,
    created_at: u64,
    #[serde(with = "zeroizing_string")]
    material: Zeroizing<String>,
}

mod zeroizing_string {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(
        s: &Zeroizing<String>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        de: D,
    ) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(de).map(Zeroizing::new)
    }
}

/// Parses `vault:v<N>:<rest>` into (N, rest), with Vault's error wording.
fn split_text(s: &str) -> Result<(u32, &str)> {
    let rest = s
        .strip_prefix(TEXT_PREFIX)
        .ok_or_else(|| Error::malformed("ciphertext", "invalid ciphertext: no prefix"))?;
    let (num, body) = rest.split_once(':').ok_or_else(|| {
        Error::malformed("ciphertext", "invalid ciphertext: wrong number of fields")
    })?;
    let valid = !num.is_empty()
        && num.len() <= 10
        && num.bytes().all(|b| b.is_ascii_digit())
        && !num.starts_with('0');
    let version = valid
        .then(|| num.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| {
            Error::malformed(
                "ciphertext",
                "invalid ciphertext: version number could not be decoded",
            )
        })?;
    Ok((version, body))
}

fn split_binary(b: &[u8]) -> Result<(u32, &[u8])> {
    match b {
        [BINARY_PREFIX, a, b2, c, d, rest @ ..] => {
            Ok((u32::from_be_bytes([*a, *b2, *c, *d]), rest))
        }
        _ => Err(Error::malformed(
            "ciphertext",
            "missing the 5-byte version prefix",
        )),
    }
}

impl Ciphertext {
    /// `vault:v<N>:<base64>`.
    pub fn to_vault_string(&self) -> String {
        format!(
            "{TEXT_PREFIX}{}:{}",
            self.version,
            base64_encode(&self.body)
        )
    }

    /// Parses `vault:v<N>:<base64>` strictly.
    pub fn from_vault_string(s: &str) -> Result<Self> {
        let (version, b64) = split_text(s)?;
        let body = base64_decode(b64).map_err(|_| {
            Error::malformed("ciphertext", "invalid ciphertext: could not decode base64")
        })?;
        Ok(Self { version, body })
    }

    /// `0x01 || version (u32 BE) || body`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.body.len());
        out.push(BINARY_PREFIX);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses the binary form.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let (version, body) = split_binary(b)?;
        Ok(Self {
            version,
            body: body.to_vec(),
        })
    }
}

impl Tag {
    /// `vault:v<N>:<base64>`.
    pub fn to_vault_string(&self) -> String {
        format!(
            "{TEXT_PREFIX}{}:{}",
            self.version,
            base64_encode(&self.bytes)
        )
    }

    /// Parses `vault:v<N>:<base64>` strictly.
    pub fn from_vault_string(s: &str) -> Result<Self> {
        let (version, b64) = split_text(s)?;
        let bytes =
            base64_decode(b64).map_err(|_| Error::malformed("tag", "could not decode base64"))?;
        Ok(Self { version, bytes })
    }

    /// `0x01 || version (u32 BE) || bytes`.
    pub fn to_bytes(&self) -> Vec<u8> {
        Ciphertext {
            version: self.version,
            body: self.bytes.clone(),
        }
        .to_bytes()
    }

    /// Parses the binary form.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let (version, bytes) = split_binary(b)?;
        Ok(Self {
            version,
            bytes: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests;
