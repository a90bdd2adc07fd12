//! Password storage: Argon2id (RFC 9106) in PHC string format, with an optional pepper.
//!
//! ```text
//! $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>                 no pepper
//! $argon2id$v=19$m=19456,t=2,p=1,keyid=<id>$<salt>$<hash>      peppered; <id> names the pepper
//! ```
//!
//! - Defaults follow OWASP's Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1; a 16-byte
//!   random salt and a 32-byte hash. Salt and hash are in the PHC "B64" form (standard
//!   alphabet, no padding).
//! - A pepper is a secret kept outside the password database. It is fed to Argon2 as its
//!   secret input K (RFC 9106 §3.1), and its id is recorded in the PHC `keyid` parameter (B64 of
//!   the id's bytes) so peppers can rotate: verify with whichever pepper the hash names, and
//!   [`PasswordHasher::needs_rehash`] says when a login should rehash under the current one.
//! - Verification parses strictly and refuses parameters above [`Limits`]: a stored hash with
//!   absurd costs would otherwise be a denial of service. The final comparison is constant time.

use std::fmt;

use argon2::{Algorithm, Argon2, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use subtle::ConstantTimeEq as _;

use crate::error::{Error, Result};
use crate::secret::SecretBytes;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Default for Params {
    /// OWASP's default: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

/// The most expensive parameters a stored hash may ask for when verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest memory cost in KiB (default 1 GiB).
    pub max_m_kib: u32,
    /// Largest number of iterations (default 20).
    pub max_t: u32,
    /// Largest number of lanes (default 16).
    pub max_p: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_m_kib: 1024 * 1024,
            max_t: 20,
            max_p: 16,
        }
    }
}

/// A pepper: a named secret mixed into every hash.
#[derive(Clone)]
pub struct Pepper {
    id: String,
    secret: SecretBytes,
}

impl Pepper {
    /// A pepper with an id of 1–8 characters from `[A-Za-z0-9_.-]` (8 bytes is the PHC
    /// format's limit for an Argon2 `keyid`, so other PHC parsers still read our strings) and a
    /// secret of at least 16 bytes.
    pub fn new(id: &str, secret: SecretBytes) -> Result<Self> {
        let valid = !id.is_empty()
            && id.len() <= 8
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err(Error::malformed(
                "pepper id",
                "use 1-8 characters from A-Z a-z 0-9 _ . -",
            ));
        }
        if secret.len() < 16 {
            return Err(Error::malformed(
                "pepper",
                "the secret must be at least 16 bytes",
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            secret,
        })
    }

    /// The id recorded in hashes made with this pepper.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("id", &self.id)
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

/// Hashes and verifies passwords with one set of parameters and peppers.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    limits: Limits,
    current: Option<Pepper>,
    old: Vec<Pepper>,
    unnamed: Option<SecretBytes>,
}

/// A parsed PHC string.
struct Phc {
    params: Params,
    keyid: Option<String>,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHasher {
    /// A hasher using `params` for new hashes.
    pub fn new(params: Params) -> Result<Self> {
        check_params(params)?;
        Ok(Self {
            params,
            limits: Limits::default(),
            current: None,
            old: Vec::new(),
            unnamed: None,
        })
    }

    /// New hashes use this pepper (and it verifies hashes that name it).
    pub fn with_pepper(mut self, current: Pepper) -> Self {
        self.current = Some(current);
        self
    }

    /// An older pepper, accepted when verifying hashes that name it.
    pub fn with_old_pepper(mut self, old: Pepper) -> Self {
        self.old.push(old);
        self
    }

    /// A pepper for hashes that do not name one (made by systems that store the secret input
    /// without recording an id). Used for verification only.
    pub fn with_unnamed_pepper(mut self, secret: SecretBytes) -> Self {
        self.unnamed = Some(secret);
        self
    }

    /// Verification limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Hashes `password` with a fresh salt into a PHC string.
    pub fn hash(&self, password: &[u8]) -> Result<String> {
        let salt = crate::random::array::<SALT_LEN>()?;
        let secret = self.current.as_ref().map(|p| p.secret.expose_secret());
        let hash = compute(self.params, secret, password, &salt, HASH_LEN)?;
        let keyid = self.current.as_ref().map(|p| p.id.as_str());
        Ok(encode(self.params, keyid, &salt, hash.expose_secret()))
    }

    /// `Ok(true)` if `password` matches `phc`, `Ok(false)` if not. Errors for a malformed PHC
    /// string, another algorithm or version, parameters over the limits, or a pepper id this
    /// hasher does not know.
    pub fn verify(&self, phc: &str, password: &[u8]) -> Result<bool> {
        let parsed = parse(phc)?;
        let p = parsed.params;
        if p.m_kib > self.limits.max_m_kib || p.t > self.limits.max_t || p.p > self.limits.max_p {
            return Err(Error::TooLarge {
                what: "Argon2 cost in the stored hash",
                limit: u64::from(self.limits.max_m_kib),
            });
        }
        let secret = match &parsed.keyid {
            Some(id) => Some(
                self.current
                    .iter()
                    .chain(&self.old)
                    .find(|pepper| &pepper.id == id)
                    .ok_or_else(|| {
                        Error::KeyState(format!(
                            "the hash was made with pepper {id:?}, which is not configured"
                        ))
                    })?
                    .secret
                    .expose_secret(),
            ),
            None => self.unnamed.as_ref().map(SecretBytes::expose_secret),
        };
        let computed = compute(p, secret, password, &parsed.salt, parsed.hash.len())?;
        Ok(computed.expose_secret().ct_eq(&parsed.hash).into())
    }

    /// Whether a hash should be recomputed at the next successful login: it uses other
    /// parameters, another (or no) pepper than the current one, or another salt or hash length.
    pub fn needs_rehash(&self, phc: &str) -> Result<bool> {
        let parsed = parse(phc)?;
        let current_id = self.current.as_ref().map(|p| p.id.as_str());
        Ok(parsed.params != self.params
            || parsed.keyid.as_deref() != current_id
            || parsed.salt.len() != SALT_LEN
            || parsed.hash.len() != HASH_LEN)
    }
}

fn check_params(p: Params) -> Result<()> {
    if p.t < 1 || p.p < 1 || p.p > 255 || p.m_kib < 8 * p.p {
        return Err(Error::unsupported(
            "Argon2 needs t >= 1, 1 <= p <= 255 and m >= 8 * p KiB",
        ));
    }
    Ok(())
}

fn compute(
    params: Params,
    secret: Option<&[u8]>,
    password: &[u8],
    salt: &[u8],
    out_len: usize,
) -> Result<SecretBytes> {
    check_params(params)?;
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(out_len))
        .map_err(|_| Error::unsupported("Argon2 parameters out of range"))?;
    let blocks = argon_params.block_count();
    let argon = match secret {
        Some(s) => Argon2::new_with_secret(s, Algorithm::Argon2id, Version::V0x13, argon_params)
            .map_err(|_| Error::unsupported("pepper too long for Argon2"))?,
        None => Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
    };
    // Argon2's working memory holds values derived from the password: supply it ourselves so
    // it is wiped afterwards, as the reference implementation does.
    let mut memory = zeroize::Zeroizing::new(vec![argon2::Block::default(); blocks]);
    let mut out = SecretBytes::zeroed(out_len);
    argon
        .hash_password_into_with_memory(
            password,
            salt,
            out.expose_secret_mut(),
            memory.as_mut_slice(),
        )
        .map_err(|_| Error::unsupported("password or salt length out of range for Argon2"))?;
    Ok(out)
}

fn encode(p: Params, keyid: Option<&str>, salt: &[u8], hash: &[u8]) -> String {
    let keyid = keyid
        .map(|id| format!(",keyid={}", B64.encode(id)))
        .unwrap_or_default();
    format!(
        "$argon2id$v=19$m={},t={},p={}{keyid}${}${}",
        p.m_kib,
        p.t,
        p.p,
        B64.encode(salt),
        B64.encode(hash)
    )
}

fn bad(reason: impl Into<String>) -> Error {
    Error::malformed("PHC string", reason)
}

/// Strict parsing: exactly `$argon2id$v=19$m=..,t=..,p=..[,keyid=..]$salt$hash`.
fn parse(phc: &str) -> Result<Phc> {
    if phc.len() > 512 {
        return Err(bad("too long"));
    }
    let fields: Vec<&str> = phc.split('$').collect();
    let [empty, alg, version, params, salt, hash] = fields[..] else {
        return Err(bad("expected $argon2id$v=19$<params>$<salt>$<hash>"));
    };
    if !empty.is_empty() {
        return Err(bad("must start with '$'"));
    }
    match alg {
        "argon2id" => {}
        "argon2i" | "argon2d" => {
            return Err(Error::unsupported(format!(
                "{alg} hashes (Sigil verifies argon2id)"
            )));
        }
        _ => return Err(bad("not an Argon2 hash")),
    }
    if version != "v=19" {
        return Err(Error::unsupported("Argon2 versions other than 19 (0x13)"));
    }
    let mut parts = params.split(',');
    let mut number = |name: &str| -> Result<u32> {
        let part = parts
            .next()
            .ok_or_else(|| bad(format!("missing parameter {name}")))?;
        let value = part
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('='))
            .ok_or_else(|| bad(format!("expected {name}=<number> in order m, t, p")))?;
        if value.is_empty()
            || (value.len() > 1 && value.starts_with('0'))
            || !value.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad(format!("{name} is not a decimal number")));
        }
        value
            .parse::<u32>()
            .map_err(|_| bad(format!("{name} is out of range")))
    };
    let params = Params {
        m_kib: number("m")?,
        t: number("t")?,
        p: number("p")?,
    };
    let keyid = match parts.next() {
        None => None,
        Some(part) => {
            let value = part
                .strip_prefix("keyid=")
                .ok_or_else(|| bad("unknown parameter (only keyid may follow p)"))?;
            let bytes = B64.decode(value).map_err(|_| bad("keyid is not B64"))?;
            let id = String::from_utf8(bytes).map_err(|_| bad("keyid is not text"))?;
            Some(id)
        }
    };
    if parts.next().is_some() {
        return Err(bad("unexpected parameters after keyid"));
    }
    let salt = B64.decode(salt).map_err(|_| bad("salt is not B64"))?;
    let hash = B64.decode(hash).map_err(|_| bad("hash is not B64"))?;
    if !(8..=64).contains(&salt.len()) {
        return Err(bad("salt must be 8 to 64 bytes"));
    }
    if !(16..=64).contains(&hash.len()) {
        return Err(bad("hash must be 16 to 64 bytes"));
    }
    Ok(Phc {
        params,
        keyid,
        salt,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    fn pepper(id: &str, s: &[u8]) -> Pepper {
        let mut secret = s.to_vec();
        secret.resize(16, b'.');
        Pepper::new(id, SecretBytes::new(secret)).unwrap()
    }

    #[test]
    fn hash_and_verify() {
        let h = PasswordHasher::new(cheap()).unwrap();
        let phc = h.hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify(&phc, b"correct horse").unwrap());
        assert!(!h.verify(&phc, b"correct horsE").unwrap());
        assert_ne!(h.hash(b"correct horse").unwrap(), phc, "fresh salt");
    }

    #[test]
    fn peppers_rotate() {
        let v1 = PasswordHasher::new(cheap())
            .unwrap()
            .with_pepper(pepper("v1", b"one"));
        let old = v1.hash(b"pw").unwrap();
        assert!(old.contains(",keyid=djE$"), "{old}");
        assert_eq!(v1.current.as_ref().map(Pepper::id), Some("v1"));
        let v2 = PasswordHasher::new(cheap())
            .unwrap()
            .with_pepper(pepper("v2", b"two"))
            .with_old_pepper(pepper("v1", b"one"));
        assert!(v2.verify(&old, b"pw").unwrap());
        assert!(v2.needs_rehash(&old).unwrap());
        let new = v2.hash(b"pw").unwrap();
        assert!(!v2.needs_rehash(&new).unwrap());
        // Without the pepper the hash cannot be checked at all.
        let none = PasswordHasher::new(cheap()).unwrap();
        assert!(matches!(none.verify(&old, b"pw"), Err(Error::KeyState(_))));
        // A wrong pepper secret under the right id simply does not match.
        let wrong = PasswordHasher::new(cheap())
            .unwrap()
            .with_pepper(pepper("v1", b"uno"));
        assert!(!wrong.verify(&old, b"pw").unwrap());
    }

    #[test]
    fn needs_rehash_table() {
        let current = PasswordHasher::new(cheap()).unwrap();
        let peppered = PasswordHasher::new(cheap())
            .unwrap()
            .with_pepper(pepper("p", b"x"));
        let stronger = PasswordHasher::new(Params { t: 2, ..cheap() }).unwrap();
        let plain = current.hash(b"pw").unwrap();
        let pep = peppered.hash(b"pw").unwrap();
        for (hasher, phc, expected) in [
            (&current, &plain, false),
            (&current, &pep, true),
            (&peppered, &plain, true),
            (&peppered, &pep, false),
            (&stronger, &plain, true),
        ] {
            assert_eq!(hasher.needs_rehash(phc).unwrap(), expected, "{phc}");
        }
    }

    #[test]
    fn malformed_phc_strings() {
        let h = PasswordHasher::new(cheap()).unwrap();
        let good = h.hash(b"pw").unwrap();
        let cases = [
            String::new(),
            "argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA".into(),
            good.replace("argon2id", "argon2i"),
            good.replace("argon2id", "bcrypt"),
            good.replace("v=19", "v=16"),
            good.replace("m=64,t=1,p=1", "t=1,m=64,p=1"),
            good.replace("m=64", "m=064"),
            good.replace("m=64", "m=-64"),
            good.replace("m=64", "m=99999999999"),
            good.replace("p=1", "p=1,data=AA"),
            good.replace("p=1", "p=1,keyid=!!"),
            format!("{good}$"),
            format!("{good}="),
            good[..good.len() - 5].to_owned(),
            good.replace('$', "$$"),
            "$argon2id$v=19$m=64,t=1,p=1$AA$AAAAAAAAAAAAAAAAAAAAAA".into(),
            "x".repeat(1000),
        ];
        for phc in cases {
            assert!(h.verify(&phc, b"pw").is_err(), "{phc:?} was accepted");
            assert!(h.needs_rehash(&phc).is_err(), "{phc:?} was accepted");
        }
    }

    #[test]
    fn limits_stop_expensive_hashes() {
        let h = PasswordHasher::new(cheap()).unwrap().with_limits(Limits {
            max_m_kib: 32,
            ..Limits::default()
        });
        let phc = PasswordHasher::new(cheap()).unwrap().hash(b"pw").unwrap();
        assert!(matches!(h.verify(&phc, b"pw"), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn pepper_ids_and_debug() {
        let long = SecretBytes::copy_from(&[7; 16]);
        assert!(Pepper::new("", long.clone()).is_err());
        assert!(Pepper::new("a b", long.clone()).is_err());
        assert!(
            Pepper::new("123456789", long).is_err(),
            "PHC keyid is at most 8 bytes"
        );
        assert!(Pepper::new("ok", SecretBytes::copy_from(&[7; 15])).is_err());
        let h = PasswordHasher::new(cheap())
            .unwrap()
            .with_pepper(pepper("2026-11", b"very-secret-pepper"));
        let dbg = format!("{h:?}");
        assert!(dbg.contains("2026-11"));
        assert!(!dbg.contains("very-secret-pepper"));
        assert!(PasswordHasher::new(Params { t: 0, ..cheap() }).is_err());
    }
}
