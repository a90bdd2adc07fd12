//! The SPIFFE identity commands: `entry`, `bundle`, `x509`, `jwt`, `token generate` and
//! `agent`, each talking to the `spiffe` mount of a server (`--mount` for another).

use clap::{Args, Subcommand, ValueEnum};

pub(crate) const ENTRY_EXAMPLES: &str = "\
Examples:
  sigil entry create --spiffe-id spiffe://sigil.internal/web \\
      --parent-id spiffe://sigil.internal/sigil/agent/join_token/node1 \\
      --selector unix:uid:1000 --x509-svid-ttl 30m
  sigil entry list
  sigil entry update ENTRY_ID --hint web
  sigil entry delete ENTRY_ID";

#[derive(Debug, Args)]
pub(crate) struct MountArg {
    /// The identity engine's mount.
    #[arg(long, default_value = "spiffe")]
    pub(crate) mount: String,
}

/// Registration entries: which workloads get which SPIFFE ID.
#[derive(Debug, Subcommand)]
pub(crate) enum EntryCommand {
    /// Register a workload: the SPIFFE ID it gets, the parent it applies under, its selectors.
    Create(EntryFields),
    /// Show an entry.
    Show(EntryId),
    /// Change the fields given; the others stay.
    Update(EntryUpdate),
    /// Delete an entry.
    Delete(EntryId),
    /// List the entries (ids with their SPIFFE and parent IDs).
    List(MountArg),
}

#[derive(Debug, Args)]
pub(crate) struct EntryId {
    /// The entry's id.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

#[derive(Debug, Args)]
pub(crate) struct EntryUpdate {
    /// The entry's id.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) fields: EntryFields,
}

#[derive(Debug, Args)]
pub(crate) struct EntryFields {
    /// The SPIFFE ID workloads matching the entry get.
    #[arg(long)]
    pub(crate) spiffe_id: Option<String>,
    /// The agent's (or another entry's) SPIFFE ID the entry applies under.
    #[arg(long)]
    pub(crate) parent_id: Option<String>,
    /// A selector the caller must have, type:value (repeatable; all must match).
    #[arg(long = "selector")]
    pub(crate) selectors: Vec<String>,
    /// X509-SVID lifetime (e.g. 1h).
    #[arg(long)]
    pub(crate) x509_svid_ttl: Option<String>,
    /// JWT-SVID lifetime (e.g. 5m).
    #[arg(long)]
    pub(crate) jwt_svid_ttl: Option<String>,
    /// A DNS name for the X509-SVIDs (repeatable).
    #[arg(long = "dns-name")]
    pub(crate) dns_names: Vec<String>,
    /// A trust domain whose bundle the workloads receive (repeatable).
    #[arg(long)]
    pub(crate) federates_with: Vec<String>,
    /// The workloads may use the admin API.
    #[arg(long)]
    pub(crate) admin: Option<bool>,
    /// A hint telling a workload's several SVIDs apart.
    #[arg(long)]
    pub(crate) hint: Option<String>,
    /// Unix time after which the entry no longer applies.
    #[arg(long)]
    pub(crate) expires_at: Option<u64>,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

/// The trust bundle.
#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Print the trust domain's bundle.
    Show(BundleShow),
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub(crate) enum BundleFormat {
    /// The X.509 authorities, PEM.
    #[default]
    Pem,
    /// The SPIFFE bundle document (JWKS with x509-svid and jwt-svid keys).
    Spiffe,
}

#[derive(Debug, Args)]
pub(crate) struct BundleShow {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: BundleFormat,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

/// X509-SVIDs.
#[derive(Debug, Subcommand)]
pub(crate) enum X509Command {
    /// Mint an X509-SVID and its key (JSON: svid, private_key, bundle, expires_at).
    Mint(X509Mint),
}

#[derive(Debug, Args)]
pub(crate) struct X509Mint {
    /// The SPIFFE ID.
    #[arg(long)]
    pub(crate) spiffe_id: String,
    /// A DNS name (repeatable).
    #[arg(long = "dns-name")]
    pub(crate) dns_names: Vec<String>,
    /// Lifetime (e.g. 1h; default: the trust domain's).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

/// JWT-SVIDs.
#[derive(Debug, Subcommand)]
pub(crate) enum JwtCommand {
    /// Mint a JWT-SVID and print the token.
    Mint(JwtMint),
}

#[derive(Debug, Args)]
pub(crate) struct JwtMint {
    /// The SPIFFE ID.
    #[arg(long)]
    pub(crate) spiffe_id: String,
    /// An audience (repeatable; at least one).
    #[arg(long = "audience", required = true)]
    pub(crate) audience: Vec<String>,
    /// Lifetime (e.g. 5m; default: the trust domain's).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

#[derive(Debug, Args)]
pub(crate) struct JoinTokenArgs {
    /// How long the token may be used (e.g. 10m; default 10m).
    #[arg(long)]
    pub(crate) ttl: Option<String>,
    /// A SPIFFE ID the attested agent also answers to as the parent of entries.
    #[arg(long)]
    pub(crate) spiffe_id: Option<String>,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

/// The node agent, and the server's record of attested agents.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Run the node agent: attest to the server, then serve the SPIFFE Workload API on a
    /// Unix socket, keeping SVIDs fresh (and serving them from its cache while the server is
    /// unreachable).
    #[command(after_help = AGENT_RUN_EXAMPLES)]
    Run(AgentRunArgs),
    /// List the attested agents.
    List(MountArg),
    /// Show an agent.
    Show(AgentRef),
    /// Evict an agent: its SVIDs stop working; it must attest again.
    Evict(AgentRef),
    /// Ban an agent: its SVIDs stop working and it cannot attest again until evicted.
    Ban(AgentRef),
}

#[derive(Debug, Args)]
pub(crate) struct AgentRef {
    /// The agent: its SPIFFE ID or `<method>/<id>` as `agent list` shows it.
    pub(crate) agent: String,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}

pub(crate) const AGENT_RUN_EXAMPLES: &str = "\
Examples:
  sigil token generate --spiffe-id spiffe://sigil.internal/node/web-1   # on an admin shell
  sigil agent run --join-token TOKEN --socket /run/sigil-agent/api.sock
  sigil agent run --x509pop-cert node.pem --x509pop-key node-key.pem
Workloads then set SPIFFE_ENDPOINT_SOCKET=unix:///run/sigil-agent/api.sock.";

#[derive(Debug, Args)]
pub(crate) struct AgentRunArgs {
    /// The server's address.
    #[arg(long, env = "SIGIL_ADDR", default_value = "https://127.0.0.1:8200")]
    pub(crate) server: String,
    /// The CA certificate file the server's TLS certificate chains to.
    #[arg(long, env = "SIGIL_CACERT")]
    pub(crate) ca_file: std::path::PathBuf,
    /// Attest with this join token (used only when no valid agent SVID is kept).
    #[arg(long, env = "SIGIL_JOIN_TOKEN", hide_env_values = true)]
    pub(crate) join_token: Option<String>,
    /// Attest with this node certificate (x509pop)...
    #[arg(long, requires = "x509pop_key", conflicts_with = "join_token")]
    pub(crate) x509pop_cert: Option<std::path::PathBuf>,
    /// ...and its private key.
    #[arg(long, requires = "x509pop_cert")]
    pub(crate) x509pop_key: Option<std::path::PathBuf>,
    /// The Workload API socket.
    #[arg(long, default_value = "/tmp/sigil-agent/api.sock")]
    pub(crate) socket: std::path::PathBuf,
    /// Where the agent keeps its SVID and key.
    #[arg(long, default_value = ".sigil-agent")]
    pub(crate) data_dir: std::path::PathBuf,
    /// How often to sync with the server, in seconds.
    #[arg(long, default_value_t = 5)]
    pub(crate) sync_interval: u64,
    #[command(flatten)]
    pub(crate) mount: MountArg,
}
