//! `sigil encode`, `sigil decode` and `sigil random`: representations of bytes, and bytes from
//! the CSPRNG. None of this is encryption.

use std::io::Write;

use sigil_core::encoding::{Encoding, Pem};
use sigil_core::random;

use crate::cli::{DecodeArgs, EncodeArgs, OutputFormat, RandomArgs};
use crate::exit::{CliError, CliResult};
use crate::io::{Input, Mode, Output, write_output};

/// Encode/decode work in memory; inputs past this size are refused with a clear error.
const CODEC_LIMIT: u64 = 256 * 1024 * 1024;

/// `sigil random` refuses requests past this size.
const RANDOM_LIMIT: usize = 64 * 1024 * 1024;

/// What `encode`/`decode` accept: the core text encodings, or PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Text(Encoding),
    Pem,
}

fn parse_codec(name: &str) -> CliResult<Codec> {
    if name == "pem" {
        return Ok(Codec::Pem);
    }
    name.parse::<Encoding>()
        .map(Codec::Text)
        .map_err(|_| unknown_encoding(name, &["pem"]))
}

/// What `random` can print: raw bytes or a text encoding (`None` = raw).
fn parse_random_encoding(name: &str) -> CliResult<Option<Encoding>> {
    if name == "raw" {
        return Ok(None);
    }
    name.parse::<Encoding>()
        .map(Some)
        .map_err(|_| unknown_encoding(name, &["raw"]))
}

fn unknown_encoding(name: &str, extra: &[&str]) -> CliError {
    let names: Vec<&str> = Encoding::ALL
        .iter()
        .map(|e| e.name())
        .chain(extra.iter().copied())
        .collect();
    CliError::usage(format!(
        "unknown encoding {name:?}; expected one of: {}",
        names.join(", ")
    ))
}

pub(crate) fn encode(args: &EncodeArgs) -> CliResult {
    let codec = parse_codec(&args.encoding)?;
    let data = Input::open(args.input.as_deref())?.read_limited(CODEC_LIMIT)?;
    let mut text = match codec {
        Codec::Text(e) => e.encode(&data),
        Codec::Pem => Pem::encode(&args.label, &data)?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_output(args.output.as_deref(), Mode::PublicStream, text.as_bytes())
}

pub(crate) fn decode(args: &DecodeArgs) -> CliResult {
    let codec = parse_codec(&args.encoding)?;
    let input = Input::open(args.input.as_deref())?;
    let name = input.name().to_owned();
    let data = input.read_limited(CODEC_LIMIT)?;
    let text = std::str::from_utf8(&data)
        .map_err(|_| CliError::bad_input(format!("{}: input is not text", name.display())))?;
    let bytes = match codec {
        Codec::Text(e) => {
            // People paste wrapped base64 and hex; line breaks and spaces are not data.
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if compact.is_empty() {
                return Err(CliError::bad_input(format!(
                    "{}: input is empty",
                    name.display()
                )));
            }
            e.decode(&compact)?
        }
        Codec::Pem => Pem::decode(text)?.der,
    };
    // Decoded bytes may be key material: files get mode 0600.
    write_output(args.output.as_deref(), Mode::SecretStream, &bytes)
}

pub(crate) fn random(args: &RandomArgs) -> CliResult {
    let encoding = parse_random_encoding(&args.encoding)?;
    if args.bytes == 0 || args.bytes > RANDOM_LIMIT {
        return Err(CliError::usage(format!(
            "the number of bytes must be between 1 and {RANDOM_LIMIT}"
        )));
    }
    let bytes = random::secret_bytes(args.bytes)?;
    let rendered: Vec<u8> = match (encoding, args.output_format) {
        (None, OutputFormat::Json) => {
            return Err(CliError::usage(
                "--output-format json needs a text encoding, not raw",
            ));
        }
        (None, OutputFormat::Text) => bytes.expose_secret().to_vec(),
        (Some(e), OutputFormat::Text) => {
            format!("{}\n", e.encode(bytes.expose_secret())).into_bytes()
        }
        (Some(e), OutputFormat::Json) => {
            let v = serde_json::json!({
                "bytes": args.bytes,
                "encoding": e.name(),
                "value": e.encode(bytes.expose_secret()),
            });
            format!("{v}\n").into_bytes()
        }
    };
    let mut rendered = sigil_core::SecretBytes::new(rendered);
    let mut out = Output::create(args.output.as_deref(), Mode::Secret, false)?;
    out.write_all(rendered.expose_secret())
        .map_err(|e| CliError::io("write", out.name(), &e))?;
    rendered.expose_secret_mut().clear();
    out.commit()
}
