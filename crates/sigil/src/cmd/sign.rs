//! `sigil sign` and `sigil verify`: raw signatures (the bytes openssl writes and reads) and
//! minisign signatures.
//!
//! Raw signature format, by key type (documented in `sigil sign --help` and the README):
//! - Ed25519: the 64-byte signature over the file itself (`openssl pkeyutl -rawin`).
//! - ECDSA P-256 / P-384: an ASN.1 DER signature over SHA-256 / SHA-384 of the file
//!   (`openssl dgst -sha256|-sha384`).
//! - RSA: RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt by default
//!   (`openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest`), or
//!   PKCS#1 v1.5 with `--scheme rsa-pkcs1-sha256` (plain `openssl dgst -sha256`).
//!
//! ECDSA and RSA stream the file through the hash, so any size signs in constant memory. Pure
//! Ed25519 needs the whole message: files up to [`ED25519_LIMIT`]; larger files should use the
//! minisign format, which signs a BLAKE2b-512 hash.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sigil_core::error::Error as CoreError;
use sigil_core::hash::Hasher;
use sigil_core::keys::{KeyType, PrivateKey, PublicKey, SignatureScheme};
use sigil_core::minisign::{
    self, MinisignAlgorithm, MinisignPublicKey, MinisignSecretKey, MinisignSignature, Prehasher,
};

use crate::cli::{OutputFormat, SignArgs, SignatureFormat, VerifyArgs};
use crate::exit::{CliError, CliResult, Code};
use crate::io::{Input, Mode, for_each_chunk, read_secret, read_small_file, write_output};

/// Keys and signatures are small; anything bigger is not one.
const KEY_LIMIT: u64 = 64 * 1024;

/// Largest file signed with pure Ed25519 or legacy minisign (both need it in memory).
const ED25519_LIMIT: u64 = 256 * 1024 * 1024;

pub(crate) fn sign(args: &SignArgs) -> CliResult {
    let key_bytes = read_small_file(&args.key, KEY_LIMIT)?;
    match args.format {
        SignatureFormat::Raw => {
            if args.legacy || args.trusted_comment.is_some() {
                return Err(CliError::usage(
                    "--legacy and --trusted-comment apply to --format minisign",
                ));
            }
            let key = PrivateKey::from_bytes(&key_bytes)
                .map_err(|e| CliError::from(e).context(args.key.display()))?;
            let scheme = scheme_for(args.scheme.as_deref(), key.key_type())?;
            let sig = sign_raw(&key, scheme, &args.file)?;
            let out = args
                .output
                .clone()
                .unwrap_or_else(|| suffixed(&args.file, ".sig"));
            write_output(Some(&out), Mode::Public, &sig)
        }
        SignatureFormat::Minisign => {
            if args.scheme.is_some() {
                return Err(CliError::usage("--scheme applies to raw signatures"));
            }
            let key = minisign_secret_key(&key_bytes, &args.key, args.passphrase_file.as_deref())?;
            let sig = sign_minisign(&key, args)?;
            let out = args
                .output
                .clone()
                .unwrap_or_else(|| suffixed(&args.file, ".minisig"));
            write_output(Some(&out), Mode::Public, sig.to_text().as_bytes())
        }
    }
}

fn scheme_for(name: Option<&str>, key: KeyType) -> CliResult<SignatureScheme> {
    let scheme = match name {
        Some(n) => n.parse::<SignatureScheme>()?,
        None => SignatureScheme::default_for(key)?,
    };
    if !scheme.fits(key) {
        return Err(CliError::usage(format!(
            "a {key} key cannot make {scheme} signatures"
        )));
    }
    Ok(scheme)
}

fn sign_raw(key: &PrivateKey, scheme: SignatureScheme, file: &Path) -> CliResult<Vec<u8>> {
    match scheme.hash() {
        None => {
            let message = read_whole(file)?;
            Ok(key.sign(&message, scheme)?)
        }
        Some(hash) => {
            let mut h = Hasher::new(hash);
            stream(file, "hashing", |chunk| h.update(chunk))?;
            Ok(key.sign_digest(&h.finish(), scheme)?)
        }
    }
}

fn minisign_secret_key(
    bytes: &[u8],
    path: &Path,
    passphrase_file: Option<&Path>,
) -> CliResult<MinisignSecretKey> {
    let ctx = |e: CoreError| CliError::from(e).context(path.display());
    if bytes.starts_with(b"untrusted comment:") {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| CliError::bad_input(format!("{} is not text", path.display())))?;
        let password = if MinisignSecretKey::is_encrypted(text).map_err(ctx)? {
            Some(read_secret(
                passphrase_file,
                "Password for the minisign key: ",
                false,
            )?)
        } else {
            None
        };
        return MinisignSecretKey::from_text(text, password.as_ref()).map_err(|e| match e {
            CoreError::Authentication(_) => {
                CliError::failed(format!("{}: wrong password for this key", path.display()))
            }
            other => ctx(other),
        });
    }
    let key = PrivateKey::from_bytes(bytes).map_err(ctx)?;
    let seed = key.ed25519_seed().map_err(|_| {
        CliError::usage(format!(
            "minisign signatures need an Ed25519 key; {} is a {} key",
            path.display(),
            key.key_type()
        ))
    })?;
    let seed: [u8; 32] = seed
        .expose_secret()
        .try_into()
        .map_err(|_| CliError::new(Code::Internal, "Ed25519 seed length"))?;
    let public = key.public_key().ed25519_public()?;
    Ok(MinisignSecretKey::from_ed25519_seed(
        &seed,
        MinisignSecretKey::derived_key_id(&public),
    )?)
}

fn sign_minisign(key: &MinisignSecretKey, args: &SignArgs) -> CliResult<MinisignSignature> {
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let untrusted = "signature from sigil secret key";
    if args.legacy {
        let trusted = args
            .trusted_comment
            .clone()
            .unwrap_or_else(|| format!("timestamp:{now}\tfile:{name}"));
        let message = read_whole(&args.file)?;
        Ok(minisign::sign(
            key,
            &message,
            &trusted,
            untrusted,
            MinisignAlgorithm::Legacy,
        )?)
    } else {
        let trusted = args
            .trusted_comment
            .clone()
            .unwrap_or_else(|| format!("timestamp:{now}\tfile:{name}\thashed"));
        let mut h = Prehasher::new();
        stream(&args.file, "hashing", |chunk| h.update(chunk))?;
        Ok(minisign::sign_prehashed(
            key,
            &h.finish(),
            &trusted,
            untrusted,
        )?)
    }
}

pub(crate) fn verify(args: &VerifyArgs) -> CliResult {
    let sig_bytes = read_small_file(&args.signature, KEY_LIMIT)?;
    let key_bytes = read_small_file(&args.key, KEY_LIMIT)?;
    let report = if sig_bytes.starts_with(b"untrusted comment:") {
        if args.scheme.is_some() {
            return Err(CliError::usage("--scheme applies to raw signatures"));
        }
        verify_minisign(&sig_bytes, &key_bytes, args)?
    } else {
        verify_raw(&sig_bytes, &key_bytes, args)?
    };
    match args.output_format {
        OutputFormat::Text => match &report.trusted_comment {
            Some(c) => println!("valid {} signature; trusted comment: {c}", report.format),
            None => println!("valid {} signature ({})", report.format, report.scheme),
        },
        OutputFormat::Json => {
            let v = serde_json::json!({
                "valid": true,
                "format": report.format,
                "scheme": report.scheme,
                "key_id": report.key_id,
                "trusted_comment": report.trusted_comment,
            });
            println!("{v}");
        }
    }
    Ok(())
}

struct Report {
    format: &'static str,
    scheme: String,
    key_id: String,
    trusted_comment: Option<String>,
}

fn verify_raw(sig: &[u8], key_bytes: &[u8], args: &VerifyArgs) -> CliResult<Report> {
    let key = load_public_key(key_bytes, &args.key)?;
    let scheme = scheme_for(args.scheme.as_deref(), key.key_type())?;
    let result = match scheme.hash() {
        None => key.verify(&read_whole(&args.file)?, sig, scheme),
        Some(hash) => {
            let mut h = Hasher::new(hash);
            stream(&args.file, "hashing", |chunk| h.update(chunk))?;
            key.verify_digest(&h.finish(), sig, scheme)
        }
    };
    result.map_err(|e| CliError::from(e).context(args.signature.display()))?;
    Ok(Report {
        format: "raw",
        scheme: scheme.name().to_owned(),
        key_id: key.jwk_thumbprint()?,
        trusted_comment: None,
    })
}

/// A public key, or the public half of a private key given by mistake.
fn load_public_key(bytes: &[u8], path: &Path) -> CliResult<PublicKey> {
    match PublicKey::from_bytes(bytes) {
        Ok(k) => Ok(k),
        Err(e) => match PrivateKey::from_bytes(bytes) {
            Ok(private) => Ok(private.public_key().clone()),
            Err(_) => Err(CliError::from(e).context(path.display())),
        },
    }
}

fn verify_minisign(sig_bytes: &[u8], key_bytes: &[u8], args: &VerifyArgs) -> CliResult<Report> {
    let sig_text = std::str::from_utf8(sig_bytes)
        .map_err(|_| CliError::bad_input(format!("{} is not text", args.signature.display())))?;
    let sig = MinisignSignature::from_text(sig_text)
        .map_err(|e| CliError::from(e).context(args.signature.display()))?;
    let key = minisign_public_key(key_bytes, &args.key, &sig)?;
    let result = match sig.algorithm() {
        MinisignAlgorithm::Prehashed => {
            let mut h = Prehasher::new();
            stream(&args.file, "hashing", |chunk| h.update(chunk))?;
            minisign::verify_prehashed(&key, &sig, &h.finish())
        }
        MinisignAlgorithm::Legacy => minisign::verify(&key, &sig, &read_whole(&args.file)?),
    };
    result.map_err(|e| CliError::from(e).context(args.signature.display()))?;
    Ok(Report {
        format: "minisign",
        scheme: match sig.algorithm() {
            MinisignAlgorithm::Prehashed => "ed25519-blake2b512".into(),
            MinisignAlgorithm::Legacy => "ed25519".into(),
        },
        key_id: key.key_id_hex(),
        trusted_comment: Some(sig.trusted_comment().to_owned()),
    })
}

/// A minisign public key, or an Ed25519 key in another format. Other formats carry no key id,
/// so the signature's is adopted: the signature check alone decides.
fn minisign_public_key(
    bytes: &[u8],
    path: &Path,
    sig: &MinisignSignature,
) -> CliResult<MinisignPublicKey> {
    let is_pem_or_jwk = bytes.trim_ascii_start().starts_with(b"-----")
        || bytes.trim_ascii_start().starts_with(b"{");
    if !is_pem_or_jwk && let Ok(text) = std::str::from_utf8(bytes) {
        return MinisignPublicKey::from_text(text)
            .map_err(|e| CliError::from(e).context(path.display()));
    }
    let key = load_public_key(bytes, path)?;
    let pk = key.ed25519_public().map_err(|_| {
        CliError::usage(format!(
            "minisign signatures need an Ed25519 key; {} is a {} key",
            path.display(),
            key.key_type()
        ))
    })?;
    let id = sig.key_id_hex();
    let id = u64::from_str_radix(&id, 16)
        .map_err(|_| CliError::new(Code::Internal, "key id"))?
        .to_le_bytes();
    Ok(MinisignPublicKey::from_ed25519(pk, id))
}

/// Streams a file through `f` with a progress bar for large files.
fn stream(path: &Path, verb: &str, f: impl FnMut(&[u8])) -> CliResult {
    for_each_chunk(Input::open(Some(path))?, verb, f)
}

fn read_whole(path: &Path) -> CliResult<Vec<u8>> {
    Input::open(Some(path))?
        .read_limited(ED25519_LIMIT)
        .map_err(|mut e| {
            if e.code == Code::BadInput {
                e.message.push_str(
                    " (pure Ed25519 and legacy minisign hold the file in memory; \
                     use --format minisign for large files)",
                );
            }
            e
        })
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
