//! `sigil encrypt` and `sigil decrypt`: age files, streamed.
//!
//! Both directions stream in constant memory through a three-stage pipeline (a reader thread,
//! the age crate on this thread, a writer thread: see `pipe`). Decryption writes into an
//! [`Output`] that holds the plaintext back (a temporary file, or a spool for stdout) and
//! publishes it only once the final chunk authenticated, so a truncated or tampered file leaves
//! nothing behind.

use std::path::Path;

use sigil_core::agefile::{self, Decryptor, EncryptTo, Encryptor, Identity, Recipient};

use crate::cli::{DecryptArgs, EncryptArgs};
use crate::exit::{CliError, CliResult};
use crate::io::{Input, Mode, Output, copy, read_secret, read_small_file};
use crate::pipe::{Contents, PipeReader, PipeWriter};

/// Identity and recipient files are small; anything bigger is not one.
const KEY_FILE_LIMIT: u64 = 1024 * 1024;

pub(crate) fn encrypt(args: &EncryptArgs) -> CliResult {
    let passphrase;
    let recipients;
    let to = if args.passphrase {
        passphrase = read_secret(args.passphrase_file.as_deref(), "Passphrase: ", true)?;
        EncryptTo::Passphrase(passphrase)
    } else {
        recipients = collect_recipients(args)?;
        EncryptTo::Recipients(&recipients)
    };

    let input = Input::open(args.input.as_deref())?;
    let in_name = input.name().to_owned();
    let mut reader = PipeReader::spawn(input.into_reader("encrypting"), Contents::Plaintext)
        .map_err(|e| CliError::io("read", &in_name, &e))?;
    let out = Output::create(args.output.as_deref(), Mode::PublicStream, false)?;
    let out_name = out.name().to_owned();
    let mut pipe = PipeWriter::spawn(out, Contents::Ciphertext)
        .map_err(|e| CliError::io("write", &out_name, &e))?;

    let copied = Encryptor::new(&to, args.armor, &mut pipe)
        .map_err(CliError::from)
        .and_then(|mut enc| {
            copy(&mut reader, &in_name, &mut enc, &out_name)?;
            enc.finish()
                .map(drop)
                .map_err(|e| CliError::io("write", &out_name, &e))
        });
    finish(pipe, copied, &out_name)
}

/// Waits for the writer thread; a write failure is reported over the (consequent) error of
/// the main thread. Only a fully successful stream is committed.
fn finish(pipe: PipeWriter<Output>, copied: CliResult, out_name: &Path) -> CliResult {
    let out = pipe
        .finish()
        .map_err(|e| CliError::io("write", out_name, &e))?;
    copied?;
    out.commit()
}

fn collect_recipients(args: &EncryptArgs) -> CliResult<Vec<Recipient>> {
    let mut recipients = Vec::new();
    for r in &args.recipients {
        recipients.push(r.parse::<Recipient>()?);
    }
    for path in &args.recipients_files {
        let text = String::from_utf8(read_small_file(path, KEY_FILE_LIMIT)?)
            .map_err(|_| CliError::bad_input(format!("{} is not UTF-8 text", path.display())))?;
        let parsed = agefile::parse_recipients_file(&text)
            .map_err(|e| CliError::from(e).context(path.display()))?;
        recipients.extend(parsed);
    }
    if recipients.is_empty() {
        return Err(CliError::usage(
            "nothing to encrypt to: give -r RECIPIENT, -R FILE, or -p for a passphrase",
        ));
    }
    Ok(recipients)
}

pub(crate) fn decrypt(args: &DecryptArgs) -> CliResult {
    let identities = load_identities(&args.identities)?;
    let input = Input::open(args.input.as_deref())?;
    let in_name = input.name().to_owned();
    let source = PipeReader::spawn(input.into_reader("decrypting"), Contents::Ciphertext)
        .map_err(|e| CliError::io("read", &in_name, &e))?;
    let decryptor =
        Decryptor::new(source).map_err(|e| CliError::from(e).context(in_name.display()))?;

    let reader = if decryptor.is_passphrase() {
        if !identities.is_empty() && args.passphrase_file.is_none() {
            return Err(CliError::usage(format!(
                "{} is protected by a passphrase, not an identity; omit -i to be asked for it",
                in_name.display()
            )));
        }
        let passphrase = read_secret(args.passphrase_file.as_deref(), "Passphrase: ", false)?;
        decryptor.decrypt_with_passphrase(&passphrase)?
    } else {
        if identities.is_empty() {
            return Err(CliError::usage(format!(
                "{} is encrypted to recipients: give the identity file with -i",
                in_name.display()
            )));
        }
        decryptor.decrypt(&identities)?
    };

    // The output is held back until the whole stream authenticated.
    let out = Output::create(args.output.as_deref(), Mode::SecretStream, true)?;
    let out_name = out.name().to_owned();
    let mut pipe = PipeWriter::spawn(out, Contents::Plaintext)
        .map_err(|e| CliError::io("write", &out_name, &e))?;
    let copied = copy(&mut { reader }, &in_name, &mut pipe, &out_name).map(drop);
    finish(pipe, copied, &out_name)
}

fn load_identities(paths: &[std::path::PathBuf]) -> CliResult<Vec<Identity>> {
    let mut identities = Vec::new();
    for path in paths {
        let bytes = read_small_file(path, KEY_FILE_LIMIT)?;
        if agefile::looks_like_age(&bytes) {
            return Err(CliError::usage(format!(
                "{} is itself an encrypted age file; decrypt it first",
                path.display()
            )));
        }
        let parsed = agefile::parse_identity_file(&bytes)
            .map_err(|e| CliError::from(e).context(path.display()))?;
        identities.extend(parsed);
    }
    Ok(identities)
}
