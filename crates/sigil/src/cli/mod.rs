//! The command line: every subcommand, flag and help text, and nothing else.
//!
//! Commands are grouped by what they do to data, because mixing these up is the most common
//! mistake in the field: **encryption** hides data from everyone without the key; **signing**
//! proves who made data and that it is unchanged, hiding nothing; **hashing and MACs** give a
//! fingerprint (a MAC needs a key); **encoding** only changes how bytes are written and protects
//! nothing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod identity;
mod server;

pub(crate) use identity::*;
pub(crate) use server::*;

const EXIT_CODES: &str = "\
Exit codes:
  0   success (verify: the signature is valid)
  1   verification failed: bad signature, MAC or password mismatch, or decryption failed
      (wrong key, tampered or truncated data)
  2   usage error (bad flags, or an operation the key does not support)
  3   malformed input (a key, signature, ciphertext or encoding that cannot be parsed)
  4   I/O error (a file that cannot be read or written, or the server cannot be reached)
  5   the server refused or failed the request (its message is printed)
  70  internal error";

/// Sigil: protect data between services, and the offline toolkit for keys, files and signatures.
#[derive(Debug, Parser)]
#[command(
    name = "sigil",
    version,
    long_about = "Sigil: protect data between services, and the offline toolkit for keys, files and signatures.\n\n\
Encryption (encrypt, decrypt) hides data from anyone without the key. Signing (sign, verify) \
proves who made data and that it is unchanged, but hides nothing. Hashing and MACs (hash, mac) \
fingerprint data; a MAC needs a key. Encoding (encode, decode) only changes how bytes are \
written: it is not encryption and protects nothing.",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run an offline tour of Sigil's toolkit in a scratch directory (real keys, real files).
    Demo(DemoArgs),
    /// Generate a key pair: FILE gets the private key (mode 0600), FILE.pub the public key.
    #[command(after_help = KEYGEN_EXAMPLES)]
    Keygen(KeygenArgs),
    /// Encrypt a file or stdin to age recipients or a passphrase (the age format).
    #[command(after_help = ENCRYPT_EXAMPLES)]
    Encrypt(EncryptArgs),
    /// Decrypt an age file; the output appears only after the whole file authenticated.
    #[command(after_help = DECRYPT_EXAMPLES)]
    Decrypt(DecryptArgs),
    /// Sign a file (raw signatures openssl verifies, or minisign format).
    #[command(after_help = SIGN_EXAMPLES)]
    Sign(SignArgs),
    /// Verify a file's signature; exit 0 only when it is valid.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Hash files or stdin (SHA-2, SHA-3, SHAKE). A hash has no key: anyone can recompute it.
    #[command(after_help = HASH_EXAMPLES)]
    Hash(HashArgs),
    /// Compute or check an HMAC with a secret key.
    #[command(after_help = MAC_EXAMPLES)]
    Mac(MacArgs),
    /// Encode bytes as base64, hex or PEM. NOT encryption: anyone can decode it.
    #[command(after_help = ENCODE_EXAMPLES)]
    Encode(EncodeArgs),
    /// Decode base64, hex or PEM back to bytes. NOT decryption: no key is involved.
    #[command(after_help = DECODE_EXAMPLES)]
    Decode(DecodeArgs),
    /// Print random bytes from the system CSPRNG.
    #[command(after_help = RANDOM_EXAMPLES)]
    Random(RandomArgs),
    /// Hash and verify passwords (Argon2id PHC strings, with an optional pepper).
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Run a development server in one directory: TLS, auto-unseal, audit log, KV at secret/.
    #[command(after_help = DEV_EXAMPLES)]
    Dev(DevArgs),
    /// Run the server from a configuration file.
    #[command(after_help = SERVER_EXAMPLES)]
    Server(ServerArgs),
    /// Initialize, unseal, seal and inspect a server.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Show the server's seal status.
    Status(ClientArgs),
    /// Read a path: `sigil read secret/data/app`.
    Read(PathArgs),
    /// Write a path with key=value pairs: `sigil write sys/policy/app policy=@app.hcl`.
    #[command(after_help = WRITE_EXAMPLES)]
    Write(WriteArgs),
    /// List the keys under a path.
    List(PathArgs),
    /// Delete a path.
    Delete(PathArgs),
    /// Key/value secrets (KV v1 and v2 mounts alike).
    #[command(subcommand)]
    Kv(KvCommand),
    /// Create, inspect and revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// SPIFFE registration entries: which workloads get which SPIFFE ID.
    #[command(subcommand, after_help = ENTRY_EXAMPLES)]
    Entry(EntryCommand),
    /// The SPIFFE trust bundle (PEM or the SPIFFE bundle document).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Mint X509-SVIDs.
    #[command(subcommand)]
    X509(X509Command),
    /// Mint JWT-SVIDs.
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// Attested node agents: list, show, evict, ban.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage ACL policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Work with audit logs.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// Output format of commands whose output is data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Directory for the demo's keys and files (default: a new temporary directory, removed
    /// afterwards).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
}

const KEYGEN_EXAMPLES: &str = "\
Examples:
  sigil keygen ed25519 -o signing.key        # signing.key (PKCS#8 PEM) + signing.key.pub (SPKI PEM)
  sigil keygen ecdsa-p256 -o api.jwk --format jwk
  sigil keygen age -o me.agekey               # age identity; me.agekey.pub holds the age1... recipient
  sigil keygen minisign -o release.key        # minisign secret key + release.key.pub";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeygenType {
    Ed25519,
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[value(name = "rsa-3072")]
    Rsa3072,
    #[value(name = "rsa-4096")]
    Rsa4096,
    X25519,
    /// An age X25519 identity (AGE-SECRET-KEY-1...) and its age1... recipient.
    Age,
    /// A minisign key pair (unencrypted secret key).
    Minisign,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyFormat {
    /// PKCS#8 (private) and SubjectPublicKeyInfo (public) in PEM.
    #[default]
    Pem,
    /// JSON Web Keys (RFC 7517).
    Jwk,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Key type.
    #[arg(value_enum)]
    pub(crate) key_type: KeygenType,
    /// Private key file (mode 0600); the public key goes to FILE.pub.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// File format for ed25519, ecdsa-*, rsa-* and x25519 keys.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: KeyFormat,
    /// Replace existing files.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print a summary as text or JSON.
    #[arg(long = "output-format", value_enum, default_value_t)]
    pub(crate) output_format: OutputFormat,
}

const ENCRYPT_EXAMPLES: &str = "\
Examples:
  sigil encrypt -r age1... -o secrets.tar.age secrets.tar
  sigil encrypt -r age1alice... -r age1bob... -a < notes.txt > notes.txt.age
  sigil encrypt -R team-recipients.txt -o db.dump.age db.dump
  sigil encrypt -p -o diary.age diary.txt     # asks for a passphrase

The output is an age-encryption.org/v1 file: the age CLI (and any age implementation) decrypts it.";

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Encrypt to this age recipient (age1...). Repeatable.
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub(crate) recipients: Vec<String>,
    /// Encrypt to every recipient listed in FILE (one per line, # comments). Repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub(crate) recipients_files: Vec<PathBuf>,
    /// Encrypt with a passphrase instead of recipients.
    #[arg(short = 'p', long, conflicts_with_all = ["recipients", "recipients_files"])]
    pub(crate) passphrase: bool,
    /// Read the passphrase from the first line of FILE instead of the terminal.
    #[arg(long, value_name = "FILE", requires = "passphrase")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// ASCII-armor the output (PEM-like text).
    #[arg(short = 'a', long)]
    pub(crate) armor: bool,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Input file (default: stdin).
    #[arg(value_name = "IN")]
    pub(crate) input: Option<PathBuf>,
}

const DECRYPT_EXAMPLES: &str = "\
Examples:
  sigil decrypt -i me.agekey -o secrets.tar secrets.tar.age
  sigil decrypt -i me.agekey < notes.txt.age
  sigil decrypt -o diary.txt diary.age        # passphrase files: asks for the passphrase

Nothing is written unless the whole file authenticates: a truncated or tampered input leaves no
output file (stdout output is held back until the end).";

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// Identity file (AGE-SECRET-KEY-1... lines). Repeatable.
    #[arg(short = 'i', long = "identity", value_name = "IDENTITY_FILE")]
    pub(crate) identities: Vec<PathBuf>,
    /// For passphrase-protected files: read the passphrase from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Input file, binary or armored (default: stdin).
    #[arg(value_name = "IN")]
    pub(crate) input: Option<PathBuf>,
}

const SIGN_EXAMPLES: &str = "\
Examples:
  sigil sign -k signing.key release.tar.gz                  # writes release.tar.gz.sig
  sigil sign -k release.key --format minisign release.tar.gz # writes release.tar.gz.minisig

Raw signatures are exactly what openssl produces and verifies:
  Ed25519:      openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in FILE -sigfile FILE.sig
  ECDSA P-256:  openssl dgst -sha256 -verify KEY.pub -signature FILE.sig FILE   (DER signature)
  ECDSA P-384:  openssl dgst -sha384 -verify KEY.pub -signature FILE.sig FILE
  RSA (PSS):    openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \\
                  -verify KEY.pub -signature FILE.sig FILE
  RSA (--scheme rsa-pkcs1-sha256): openssl dgst -sha256 -verify KEY.pub -signature FILE.sig FILE";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignatureFormat {
    /// The bare signature bytes, as openssl writes them.
    #[default]
    Raw,
    /// A minisign signature file (Ed25519 keys only).
    Minisign,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Private key: PKCS#8/SEC1/PKCS#1 PEM, DER, JWK, or a minisign secret key.
    #[arg(short, long, value_name = "KEY")]
    pub(crate) key: PathBuf,
    /// Signature file (default: FILE.sig, or FILE.minisig with --format minisign; `-` = stdout).
    #[arg(short, long, value_name = "SIG")]
    pub(crate) output: Option<PathBuf>,
    /// Signature format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: SignatureFormat,
    /// Signature scheme for raw signatures (default: the key's usual one; RSA: rsa-pss-sha256).
    #[arg(long, value_name = "SCHEME")]
    pub(crate) scheme: Option<String>,
    /// minisign: sign the file itself instead of its BLAKE2b-512 hash (legacy "Ed" signatures).
    #[arg(long, requires = "format")]
    pub(crate) legacy: bool,
    /// minisign: the trusted comment (signed). Default: "timestamp:<now>\tfile:<name>\thashed".
    #[arg(short = 't', long, value_name = "COMMENT")]
    pub(crate) trusted_comment: Option<String>,
    /// minisign: passphrase file for an encrypted minisign secret key.
    #[arg(long, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// File to sign.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  sigil verify -k signing.key.pub -s release.tar.gz.sig release.tar.gz
  sigil verify -k minisign.pub -s release.tar.gz.minisig release.tar.gz

The signature format is detected: minisign files start with \"untrusted comment:\", anything else
is a raw signature (DER for ECDSA). Exit code 0 means valid; 1 means invalid.";

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Public key: SPKI PEM/DER, JWK, or a minisign public key.
    #[arg(short, long, value_name = "PUBKEY")]
    pub(crate) key: PathBuf,
    /// Signature file.
    #[arg(short, long, value_name = "SIG")]
    pub(crate) signature: PathBuf,
    /// Signature scheme for raw signatures (default: the key's usual one; RSA: rsa-pss-sha256).
    #[arg(long, value_name = "SCHEME")]
    pub(crate) scheme: Option<String>,
    /// Print the result as text or JSON.
    #[arg(
        long = "output",
        value_enum,
        default_value_t,
        visible_alias = "output-format"
    )]
    pub(crate) output_format: OutputFormat,
    /// The signed file.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

const HASH_EXAMPLES: &str = "\
Examples:
  sigil hash release.tar.gz                 # SHA-256, printed like sha256sum
  sigil hash -a sha3-256 a.bin b.bin
  sigil hash -a shake256 --length 64 < data
  sigil hash --output json *.tar.gz";

#[derive(Debug, Args)]
pub(crate) struct HashArgs {
    /// Algorithm: sha256, sha384, sha512, sha3-256, sha3-384, sha3-512, shake128, shake256.
    #[arg(short, long, default_value = "sha256")]
    pub(crate) algorithm: String,
    /// Output length in bytes (SHAKE only; default 32 for shake128, 64 for shake256).
    #[arg(long, value_name = "BYTES")]
    pub(crate) length: Option<usize>,
    /// Digest encoding.
    #[arg(short, long, default_value = "hex")]
    pub(crate) encoding: String,
    /// Print as text or JSON.
    #[arg(
        long = "output",
        value_enum,
        default_value_t,
        visible_alias = "output-format"
    )]
    pub(crate) output_format: OutputFormat,
    /// Files to hash (default: stdin).
    #[arg(value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

const MAC_EXAMPLES: &str = "\
Examples:
  sigil random 32 -e raw -o mac.key
  sigil mac -k mac.key message.json                     # prints the HMAC-SHA256 in hex
  sigil mac -k mac.key --verify 5f1c... message.json    # exit 0 if it matches, 1 if not";

#[derive(Debug, Args)]
pub(crate) struct MacArgs {
    /// Key file (raw bytes unless --key-encoding says otherwise).
    #[arg(short, long, value_name = "KEYFILE")]
    pub(crate) key: PathBuf,
    /// How the key file is written: raw, hex, base64.
    #[arg(long, default_value = "raw")]
    pub(crate) key_encoding: String,
    /// Algorithm: hmac-sha256, hmac-sha384, hmac-sha512.
    #[arg(short, long, default_value = "hmac-sha256")]
    pub(crate) algorithm: String,
    /// MAC encoding (output, and input for --verify).
    #[arg(short, long, default_value = "hex")]
    pub(crate) encoding: String,
    /// Check the data against this MAC instead of printing one (constant-time comparison).
    #[arg(long, value_name = "MAC")]
    pub(crate) verify: Option<String>,
    /// Print as text or JSON.
    #[arg(
        long = "output",
        value_enum,
        default_value_t,
        visible_alias = "output-format"
    )]
    pub(crate) output_format: OutputFormat,
    /// Input file (default: stdin).
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

const ENCODE_EXAMPLES: &str = "\
Examples:
  sigil encode < key.bin                     # base64
  sigil encode -e base64url-nopad < token.bin
  sigil encode -e pem --label 'PUBLIC KEY' < key.der

Encoding is not encryption: anyone can run `sigil decode` on the result.";

const DECODE_EXAMPLES: &str = "\
Examples:
  sigil decode < key.b64 > key.bin
  sigil decode -e hex -o blob.bin blob.hex
  sigil decode -e pem < cert.pem > cert.der

Whitespace (line breaks) in base64 and hex input is ignored; anything else invalid is an error.";

#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// base64, base64-nopad, base64url, base64url-nopad, hex, or pem.
    #[arg(short, long, default_value = "base64")]
    pub(crate) encoding: String,
    /// PEM type label (with -e pem).
    #[arg(long, default_value = "DATA")]
    pub(crate) label: String,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Input file (default: stdin).
    #[arg(value_name = "IN")]
    pub(crate) input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// base64, base64-nopad, base64url, base64url-nopad, hex, or pem.
    #[arg(short, long, default_value = "base64")]
    pub(crate) encoding: String,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Input file (default: stdin).
    #[arg(value_name = "IN")]
    pub(crate) input: Option<PathBuf>,
}

const RANDOM_EXAMPLES: &str = "\
Examples:
  sigil random                  # 32 bytes, hex
  sigil random 16 -e base64url-nopad
  sigil random 32 -e raw -o key.bin";

#[derive(Debug, Args)]
pub(crate) struct RandomArgs {
    /// Number of bytes.
    #[arg(default_value_t = 32)]
    pub(crate) bytes: usize,
    /// raw, hex, base64, base64-nopad, base64url, base64url-nopad.
    #[arg(short, long, default_value = "hex")]
    pub(crate) encoding: String,
    /// Output file (mode 0600; default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
    /// Print as text or JSON.
    #[arg(long = "output-format", value_enum, default_value_t)]
    pub(crate) output_format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PasswordCommand {
    /// Hash a password into an Argon2id PHC string (OWASP parameters by default).
    #[command(after_help = PASSWORD_HASH_EXAMPLES)]
    Hash(PasswordHashArgs),
    /// Check a password against a PHC string; exit 0 if it matches, 1 if not.
    #[command(after_help = PASSWORD_VERIFY_EXAMPLES)]
    Verify(PasswordVerifyArgs),
}

const PASSWORD_HASH_EXAMPLES: &str = "\
Examples:
  sigil password hash                                   # asks for the password
  printf '%s\\n' \"$PW\" | sigil password hash
  sigil password hash --pepper-file pepper.bin --pepper-id 2026-11 < pw.txt

The password is read from --password-file, else from stdin when it is not a terminal, else from
a prompt. A pepper is passed to Argon2 as its secret input and its id is stored in the PHC string
(keyid=...), so peppers can rotate.";

const PASSWORD_VERIFY_EXAMPLES: &str = "\
Examples:
  sigil password verify '$argon2id$v=19$m=19456,t=2,p=1$...' < pw.txt
  sigil password verify --pepper-file pepper.bin --pepper-id 2026-11 --output json \"$PHC\"";

/// Argon2id cost parameters (OWASP's defaults).
#[derive(Debug, Args)]
pub(crate) struct Argon2Args {
    /// Argon2 memory cost in KiB.
    #[arg(long, default_value_t = 19456)]
    pub(crate) memory_kib: u32,
    /// Argon2 iterations.
    #[arg(long, default_value_t = 2)]
    pub(crate) iterations: u32,
    /// Argon2 lanes.
    #[arg(long, default_value_t = 1)]
    pub(crate) parallelism: u32,
}

#[derive(Debug, Args)]
pub(crate) struct PepperArgs {
    /// File holding the current pepper (raw bytes).
    #[arg(long, value_name = "FILE", requires = "pepper_id")]
    pub(crate) pepper_file: Option<PathBuf>,
    /// Id recorded with hashes made under this pepper.
    #[arg(long, value_name = "ID", requires = "pepper_file")]
    pub(crate) pepper_id: Option<String>,
    /// An older pepper still accepted when verifying: ID=FILE. Repeatable.
    #[arg(long, value_name = "ID=FILE")]
    pub(crate) old_pepper: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PasswordHashArgs {
    #[command(flatten)]
    pub(crate) params: Argon2Args,
    #[command(flatten)]
    pub(crate) pepper: PepperArgs,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Print as text or JSON.
    #[arg(
        long = "output",
        value_enum,
        default_value_t,
        visible_alias = "output-format"
    )]
    pub(crate) output_format: OutputFormat,
}

#[derive(Debug, Args)]
pub(crate) struct PasswordVerifyArgs {
    /// The stored PHC string.
    #[arg(value_name = "PHC")]
    pub(crate) phc: String,
    /// The parameters new hashes use (for the needs-rehash answer).
    #[command(flatten)]
    pub(crate) params: Argon2Args,
    #[command(flatten)]
    pub(crate) pepper: PepperArgs,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// Print as text or JSON.
    #[arg(
        long = "output",
        value_enum,
        default_value_t,
        visible_alias = "output-format"
    )]
    pub(crate) output_format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
