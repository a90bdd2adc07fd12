//! `sigil keygen`: new key pairs written as FILE (private, mode 0600) and FILE.pub.
//!
//! Both files are checked before either is written, and each is written atomically, so a
//! refusal or failure never leaves a private key without its public half.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sigil_core::SecretString;
use sigil_core::agefile::Identity;
use sigil_core::keys::{KeyType, PrivateKey};
use sigil_core::minisign::MinisignSecretKey;

use crate::cli::{KeyFormat, KeygenArgs, KeygenType, OutputFormat};
use crate::exit::{CliError, CliResult};
use crate::io::{Mode, Output};

/// A generated key pair, rendered for disk.
struct Rendered {
    private: SecretString,
    public: String,
    /// A short public description for the summary (the age recipient, the key id, ...).
    public_id: String,
}

pub(crate) fn keygen(args: &KeygenArgs) -> CliResult {
    let public_path = pub_path(&args.output);
    let rendered = match args.key_type {
        KeygenType::Age => age_pair(),
        KeygenType::Minisign => minisign_pair()?,
        other => asymmetric_pair(key_type(other), args.format)?,
    };
    write_pair(&args.output, &public_path, &rendered, args.force)?;
    match args.output_format {
        OutputFormat::Text => {
            eprintln!(
                "wrote {} (private, mode 0600) and {}",
                args.output.display(),
                public_path.display()
            );
            println!("{}", rendered.public_id);
        }
        OutputFormat::Json => {
            let v = serde_json::json!({
                "type": type_name(args.key_type),
                "private_key_file": args.output,
                "public_key_file": public_path,
                "public": rendered.public_id,
            });
            println!("{v}");
        }
    }
    Ok(())
}

fn key_type(t: KeygenType) -> KeyType {
    match t {
        KeygenType::Ed25519 => KeyType::Ed25519,
        KeygenType::EcdsaP256 => KeyType::EcdsaP256,
        KeygenType::EcdsaP384 => KeyType::EcdsaP384,
        KeygenType::Rsa2048 => KeyType::Rsa2048,
        KeygenType::Rsa3072 => KeyType::Rsa3072,
        KeygenType::Rsa4096 => KeyType::Rsa4096,
        KeygenType::X25519 | KeygenType::Age | KeygenType::Minisign => KeyType::X25519,
    }
}

fn asymmetric_pair(kind: KeyType, format: KeyFormat) -> CliResult<Rendered> {
    let key = PrivateKey::generate(kind)?;
    let public = key.public_key();
    let (private, mut public_text) = match format {
        KeyFormat::Pem => (key.to_pkcs8_pem()?, public.to_spki_pem()?),
        KeyFormat::Jwk => (key.to_jwk()?, public.to_jwk()?),
    };
    if !public_text.ends_with('\n') {
        public_text.push('\n');
    }
    let private = if private.expose_secret().ends_with('\n') {
        private
    } else {
        SecretString::new(format!("{}\n", private.expose_secret()))
    };
    Ok(Rendered {
        private,
        public: public_text,
        public_id: format!("{kind} key {}", public.jwk_thumbprint()?),
    })
}

fn age_pair() -> Rendered {
    let id = Identity::generate();
    let recipient = id.to_recipient().as_str().to_owned();
    Rendered {
        private: id.to_identity_file(None),
        public: format!("{recipient}\n"),
        public_id: recipient,
    }
}

fn minisign_pair() -> CliResult<Rendered> {
    let key = MinisignSecretKey::generate()?;
    let public = key.public_key();
    Ok(Rendered {
        private: key.to_text(),
        public: public.to_text(),
        public_id: format!("minisign key {}", public.key_id_hex()),
    })
}

fn write_pair(private: &Path, public: &Path, r: &Rendered, force: bool) -> CliResult {
    // Both outputs are created (and refused) before anything is written.
    let mut pub_out = Output::create_new(public, Mode::Public, force)?;
    let mut priv_out = Output::create_new(private, Mode::Secret, force)?;
    pub_out
        .write_all(r.public.as_bytes())
        .map_err(|e| CliError::io("write", public, &e))?;
    priv_out
        .write_all(r.private.expose_secret().as_bytes())
        .map_err(|e| CliError::io("write", private, &e))?;
    pub_out.commit()?;
    priv_out.commit()
}

pub(crate) fn pub_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn type_name(t: KeygenType) -> String {
    use clap::ValueEnum as _;
    t.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}
