//! `sigil password hash|verify`: Argon2id PHC strings with an optional, rotatable pepper.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use sigil_core::password::{Params, PasswordHasher, Pepper};
use sigil_core::{SecretBytes, SecretString};

use crate::cli::{Argon2Args, OutputFormat, PasswordHashArgs, PasswordVerifyArgs, PepperArgs};
use crate::exit::{CliError, CliResult};
use crate::io::{read_secret, read_small_file};

const PEPPER_LIMIT: u64 = 4096;

fn params(a: &Argon2Args) -> Params {
    Params {
        m_kib: a.memory_kib,
        t: a.iterations,
        p: a.parallelism,
    }
}

fn hasher(params: Params, pepper: &PepperArgs) -> CliResult<PasswordHasher> {
    let mut h = PasswordHasher::new(params)?;
    if let (Some(file), Some(id)) = (&pepper.pepper_file, &pepper.pepper_id) {
        h = h.with_pepper(load_pepper(id, file)?);
    }
    for spec in &pepper.old_pepper {
        let (id, file) = spec
            .split_once('=')
            .ok_or_else(|| CliError::usage("--old-pepper takes ID=FILE"))?;
        h = h.with_old_pepper(load_pepper(id, Path::new(file))?);
    }
    Ok(h)
}

/// A pepper file holds raw bytes, used exactly as stored.
fn load_pepper(id: &str, file: &Path) -> CliResult<Pepper> {
    let secret = SecretBytes::new(read_small_file(file, PEPPER_LIMIT)?);
    Pepper::new(id, secret).map_err(|e| CliError::from(e).context(file.display()))
}

/// The password: from --password-file, else the first line of stdin when it is not a
/// terminal, else a prompt.
fn password(file: Option<&Path>, confirm: bool) -> CliResult<SecretString> {
    if file.is_none() && !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::io("read", Path::new("<stdin>"), &e))?;
        let line = SecretString::new(line);
        let trimmed = line
            .expose_secret()
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        return Ok(SecretString::new(trimmed));
    }
    read_secret(file, "Password: ", confirm)
}

pub(crate) fn hash(args: &PasswordHashArgs) -> CliResult {
    let params = params(&args.params);
    let hasher = hasher(params, &args.pepper)?;
    let pw = password(args.password_file.as_deref(), true)?;
    if pw.is_empty() {
        return Err(CliError::usage("the password is empty"));
    }
    let phc = hasher.hash(pw.expose_secret().as_bytes())?;
    match args.output_format {
        OutputFormat::Text => println!("{phc}"),
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "phc": phc,
                "algorithm": "argon2id",
                "memory_kib": params.m_kib,
                "iterations": params.t,
                "parallelism": params.p,
                "pepper_id": args.pepper.pepper_id,
            })
        ),
    }
    Ok(())
}

pub(crate) fn verify(args: &PasswordVerifyArgs) -> CliResult {
    let params = params(&args.params);
    let hasher = hasher(params, &args.pepper)?;
    let phc = args.phc.trim();
    let pw = password(args.password_file.as_deref(), false)?;
    let valid = hasher.verify(phc, pw.expose_secret().as_bytes())?;
    let rehash = hasher.needs_rehash(phc)?;
    match args.output_format {
        OutputFormat::Text if valid => {
            println!(
                "password matches{}",
                if rehash {
                    "; rehash it with the current parameters"
                } else {
                    ""
                }
            );
        }
        OutputFormat::Text => {}
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"valid": valid, "needs_rehash": rehash})
        ),
    }
    if valid {
        Ok(())
    } else {
        Err(CliError::failed("password does not match"))
    }
}
