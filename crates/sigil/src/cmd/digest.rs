//! `sigil hash` and `sigil mac`: fingerprints of data. A hash has no key; a MAC does.

use std::path::{Path, PathBuf};

use sigil_core::encoding::Encoding;
use sigil_core::hash::{HashAlgorithm, Hasher, MacAlgorithm, MacKey, XofAlgorithm, XofHasher};

use crate::cli::{HashArgs, MacArgs, OutputFormat};
use crate::exit::{CliError, CliResult};
use crate::io::{Input, for_each_chunk, read_small_file};

/// MAC keys are small.
const MAC_KEY_LIMIT: u64 = 1024 * 1024;

enum Function {
    Hash(HashAlgorithm),
    Xof(XofAlgorithm, usize),
}

impl Function {
    fn parse(name: &str, length: Option<usize>) -> CliResult<Self> {
        if let Ok(x) = name.parse::<XofAlgorithm>() {
            return Ok(Self::Xof(x, length.unwrap_or(x.default_len())));
        }
        if length.is_some() {
            return Err(CliError::usage("--length applies to shake128 and shake256"));
        }
        name.parse::<HashAlgorithm>().map(Self::Hash).map_err(|_| {
            let mut names: Vec<&str> = HashAlgorithm::ALL.iter().map(|a| a.name()).collect();
            names.extend(["shake128", "shake256"]);
            CliError::usage(format!(
                "unknown hash algorithm {name:?}; expected one of: {}",
                names.join(", ")
            ))
        })
    }

    fn name(&self) -> String {
        match self {
            Self::Hash(a) => a.name().to_owned(),
            Self::Xof(x, len) => format!("{}/{len}", x.name()),
        }
    }

    fn digest(&self, input: Input) -> CliResult<Vec<u8>> {
        match self {
            Self::Hash(a) => {
                let mut h = Hasher::new(*a);
                for_each_chunk(input, "hashing", |c| h.update(c))?;
                Ok(h.finish())
            }
            Self::Xof(x, len) => {
                let mut h = XofHasher::new(*x);
                for_each_chunk(input, "hashing", |c| h.update(c))?;
                Ok(h.finish(*len)?)
            }
        }
    }
}

fn parse_encoding(name: &str) -> CliResult<Encoding> {
    name.parse::<Encoding>().map_err(|_| {
        let names: Vec<&str> = Encoding::ALL.iter().map(|e| e.name()).collect();
        CliError::usage(format!(
            "unknown encoding {name:?}; expected one of: {}",
            names.join(", ")
        ))
    })
}

pub(crate) fn hash(args: &HashArgs) -> CliResult {
    let function = Function::parse(&args.algorithm, args.length)?;
    let encoding = parse_encoding(&args.encoding)?;
    let files: Vec<Option<PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files.iter().cloned().map(Some).collect()
    };
    let mut results = Vec::new();
    for file in &files {
        let input = Input::open(file.as_deref())?;
        let name = input.name().display().to_string();
        let digest = function.digest(input)?;
        let text = encoding.encode(&digest);
        match args.output_format {
            OutputFormat::Text => println!(
                "{text}  {}",
                file.as_deref()
                    .map_or("-".into(), |p: &Path| p.display().to_string())
            ),
            OutputFormat::Json => results.push(serde_json::json!({
                "file": name,
                "algorithm": function.name(),
                "encoding": encoding.name(),
                "digest": text,
            })),
        }
    }
    if args.output_format == OutputFormat::Json {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(())
}

pub(crate) fn mac(args: &MacArgs) -> CliResult {
    let alg = args.algorithm.parse::<MacAlgorithm>().map_err(|_| {
        CliError::usage(format!(
            "unknown MAC algorithm {:?}; expected hmac-sha256, hmac-sha384 or hmac-sha512",
            args.algorithm
        ))
    })?;
    let encoding = parse_encoding(&args.encoding)?;
    let key = load_key(&args.key, &args.key_encoding, alg)?;
    let mut ctx = key.context();
    for_each_chunk(Input::open(args.file.as_deref())?, "authenticating", |c| {
        ctx.update(c);
    })?;
    match &args.verify {
        None => {
            let tag = encoding.encode(&ctx.finish());
            match args.output_format {
                OutputFormat::Text => println!("{tag}"),
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"algorithm": alg.name(), "encoding": encoding.name(), "mac": tag})
                ),
            }
            Ok(())
        }
        Some(expected) => {
            let expected = encoding
                .decode(expected.trim())
                .map_err(|e| CliError::bad_input(format!("the MAC given to --verify: {e}")))?;
            let valid = ctx.verify(&expected).is_ok();
            if args.output_format == OutputFormat::Json {
                println!(
                    "{}",
                    serde_json::json!({"algorithm": alg.name(), "valid": valid})
                );
            }
            if valid {
                if args.output_format == OutputFormat::Text {
                    println!("valid {} MAC", alg.name());
                }
                Ok(())
            } else {
                Err(CliError::failed("MAC does not match"))
            }
        }
    }
}

fn load_key(path: &Path, key_encoding: &str, alg: MacAlgorithm) -> CliResult<MacKey> {
    let raw = read_small_file(path, MAC_KEY_LIMIT)?;
    let raw = sigil_core::SecretBytes::new(raw);
    let bytes = match key_encoding {
        "raw" => raw,
        other => {
            let encoding = parse_encoding(other)?;
            let text = std::str::from_utf8(raw.expose_secret())
                .map_err(|_| CliError::bad_input(format!("{} is not text", path.display())))?;
            sigil_core::SecretBytes::new(
                encoding
                    .decode(text.trim())
                    .map_err(|e| CliError::from(e).context(path.display()))?,
            )
        }
    };
    if bytes.len() < 16 {
        return Err(CliError::bad_input(format!(
            "{}: a MAC key needs at least 16 bytes (make one with `sigil random 32 -e raw -o FILE`)",
            path.display()
        )));
    }
    Ok(MacKey::new(alg, bytes.expose_secret())?)
}
