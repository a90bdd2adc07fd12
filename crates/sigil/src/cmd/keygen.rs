//! `sigil keygen`: new key pairs written as FILE (private, mode 0600) and FILE.pub.
//!
//! Both files are written atomically, the public one first, so a failure never leaves a private
//! key without its public half.

use std::path::{Path, PathBuf};

use sigil_core::agefile::Identity;

use crate::cli::{KeygenArgs, KeygenType, OutputFormat};
use crate::exit::{CliError, CliResult};
use crate::io::{Mode, Output};

/// A generated key pair, rendered for disk.
struct Rendered {
    private: sigil_core::SecretString,
    public: String,
    /// A short public description for the summary (the age recipient, the key id, ...).
    public_id: String,
}

pub(crate) fn keygen(args: &KeygenArgs) -> CliResult {
    let public_path = pub_path(&args.output);
    let rendered = match args.key_type {
        KeygenType::Age => age_pair(),
        _ => return Err(CliError::usage("this key type is not available yet")),
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

fn age_pair() -> Rendered {
    let id = Identity::generate();
    let recipient = id.to_recipient().as_str().to_owned();
    Rendered {
        private: id.to_identity_file(None),
        public: format!("{recipient}\n"),
        public_id: recipient,
    }
}

fn write_pair(private: &Path, public: &Path, r: &Rendered, force: bool) -> CliResult {
    // Check both before writing either, so a refusal changes nothing.
    let mut pub_out = Output::create_new(public, Mode::Public, force)?;
    let mut priv_out = Output::create_new(private, Mode::Secret, force)?;
    use std::io::Write as _;
    pub_out
        .write_all(r.public.as_bytes())
        .map_err(|e| CliError::io("write", public, &e))?;
    priv_out
        .write_all(r.private.expose_secret().as_bytes())
        .map_err(|e| CliError::io("write", private, &e))?;
    pub_out.commit()?;
    priv_out.commit()
}

fn pub_path(private: &Path) -> PathBuf {
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
