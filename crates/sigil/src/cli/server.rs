//! The server-side commands: `dev`, `server`, and the client verbs that talk to a server
//! (`operator`, `status`, `read`/`write`/`list`/`delete`, `kv`, `token`, `policy`, `audit`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

pub(crate) const DEV_EXAMPLES: &str = "\
Examples:
  sigil dev                          # everything in ./.sigil, https://127.0.0.1:8200
  . ./.sigil/env                     # SIGIL_/VAULT_/BAO_ ADDR, CACERT and TOKEN
  sigil kv put secret/app password=hunter2
  bao kv get secret/app              # Vault and OpenBao clients work unchanged";

pub(crate) const SERVER_EXAMPLES: &str = "\
Examples:
  sigil server --config /etc/sigil/server.toml
  SIGIL_LISTEN=0.0.0.0:8200 sigil server --config server.toml
The fully commented example is conf/server.full.toml.";

pub(crate) const WRITE_EXAMPLES: &str = "\
Examples:
  sigil write sys/mounts/kv type=kv-v2
  sigil write sys/policy/app policy=@app.hcl    # @FILE reads the value from FILE
  sigil write auth/token/create policies=app ttl=1h
  echo '{\"data\":{\"k\":\"v\"}}' | sigil write secret/data/app -   # a JSON body from stdin";

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Directory for the store, keys, certificates, audit log and env file.
    #[arg(long, default_value = ".sigil")]
    pub(crate) dir: PathBuf,
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8200")]
    pub(crate) listen: SocketAddr,
    /// The SPIFFE trust domain made with a new store.
    #[arg(long, default_value = sigil_server::server::DEV_TRUST_DOMAIN)]
    pub(crate) trust_domain: String,
    /// Also serve the trust domain's SPIFFE bundle endpoint (https_spiffe) here (loopback).
    #[arg(long)]
    pub(crate) bundle_endpoint: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The TOML configuration file.
    #[arg(long, short = 'c')]
    pub(crate) config: PathBuf,
}

/// Where the server is: taken from the environment (`SIGIL_ADDR`, `SIGIL_CACERT`,
/// `SIGIL_TOKEN`, or the `VAULT_` names), which `. .sigil/env` sets.
#[derive(Debug, Args, Default)]
pub(crate) struct ClientArgs {}

#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// The API path, without /v1/ (for example secret/data/app).
    pub(crate) path: String,
}

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// The API path.
    pub(crate) path: String,
    /// key=value pairs (value @FILE reads FILE; a single `-` reads a JSON body from stdin).
    pub(crate) pairs: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Initialize a new server: prints the key shares and the root token once.
    Init(InitArgs),
    /// Give one unseal key share (prompted for when not given).
    Unseal(UnsealArgs),
    /// Seal the server (needs sudo).
    Seal(ClientArgs),
    /// Rotate the barrier keyring (needs sudo).
    Rotate(ClientArgs),
    /// Show the seal status (same as `sigil status`).
    Status(ClientArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Number of key shares.
    #[arg(long, default_value_t = 5)]
    pub(crate) key_shares: u8,
    /// Shares needed to unseal.
    #[arg(long, default_value_t = 3)]
    pub(crate) key_threshold: u8,
}

#[derive(Debug, Args)]
pub(crate) struct UnsealArgs {
    /// A key share (hex or base64). Prefer the prompt: arguments end up in shell history.
    pub(crate) key: Option<String>,
    /// Forget the shares given so far.
    #[arg(long)]
    pub(crate) reset: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KvCommand {
    /// Read a secret (`--version N` for an older version on KV v2).
    #[command(disable_version_flag = true)]
    Get(KvGetArgs),
    /// Write a secret from key=value pairs (a new version on KV v2).
    Put(WriteArgs),
    /// Delete a secret (the latest version on KV v2, recoverable with undelete).
    Delete(PathArgs),
    /// List secrets under a path.
    List(PathArgs),
    /// Merge key=value pairs into the latest version (KV v2).
    Patch(WriteArgs),
    /// Restore soft-deleted versions (KV v2).
    Undelete(KvVersionsArgs),
    /// Permanently destroy versions (KV v2).
    Destroy(KvVersionsArgs),
    /// Show a secret's metadata and version history (KV v2).
    Metadata(PathArgs),
}

#[derive(Debug, Args)]
pub(crate) struct KvVersionsArgs {
    /// MOUNT/PATH.
    pub(crate) path: String,
    /// Versions, comma-separated (e.g. 1,3).
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) versions: Vec<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct KvGetArgs {
    /// MOUNT/PATH, for example secret/app.
    pub(crate) path: String,
    /// Version to read (KV v2).
    #[arg(long)]
    pub(crate) version: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a child token.
    Create(TokenCreateArgs),
    /// Show a token (your own by default).
    Lookup(TokenArgs),
    /// Renew a token (your own by default).
    Renew(TokenRenewArgs),
    /// Revoke a token and its children (your own by default).
    Revoke(TokenArgs),
    /// Generate a join token: one node agent attests with it, once, before it expires.
    Generate(crate::cli::JoinTokenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// Policies to attach (repeatable).
    #[arg(long = "policy")]
    pub(crate) policies: Vec<String>,
    /// TTL (e.g. 1h).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    /// Create an orphan token (no parent; needs sudo).
    #[arg(long)]
    pub(crate) orphan: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TokenRenewArgs {
    /// The token (your own when omitted).
    pub(crate) token: Option<String>,
    /// How much longer (e.g. 1h; default: the token's TTL).
    #[arg(long)]
    pub(crate) increment: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The token (read from the prompt-free environment when omitted: your own).
    pub(crate) token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Write a policy from an HCL or JSON file (`-` for stdin).
    Write(PolicyWriteArgs),
    /// Print a policy.
    Read(NameArgs),
    /// List policies.
    List(ClientArgs),
    /// Delete a policy.
    Delete(NameArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicyWriteArgs {
    /// Policy name.
    pub(crate) name: String,
    /// File with the policy (HCL or JSON), or `-`.
    pub(crate) file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    /// The name.
    pub(crate) name: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check an audit log's hash chain; names the first bad record. Exit 0 only when intact.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AuditVerifyArgs {
    /// The audit log file.
    pub(crate) file: PathBuf,
}
