//! `sigil dev` and `sigil server`: start the runtime and logging, then hand over to
//! `sigil_server`.

use sigil_server::config::Config;
use sigil_server::server::{self, DevInfo, DevOptions};

use crate::cli::{DevArgs, ServerArgs};
use crate::exit::{CliError, CliResult};

pub(crate) fn dev(args: &DevArgs) -> CliResult {
    init_logging("warn", "text");
    let opts = DevOptions {
        dir: args.dir.clone(),
        listen: args.listen,
        trust_domain: args.trust_domain.clone(),
        bundle_endpoint: args.bundle_endpoint,
    };
    runtime()?
        .block_on(server::dev(opts, |info| {
            let verb = if info.created { "created" } else { "reopened" };
            println!("Sigil dev server {verb} in {}", args.dir.display());
            println!();
            println!("  address:   {}", info.addr);
            println!("  CA file:   {}", info.ca_file.display());
            println!("  audit log: {}", info.audit_file.display());
            if let Some(url) = &info.bundle_endpoint {
                println!("  SPIFFE bundle endpoint: {url}");
            }
            println!(
                "  env file:  {} (address, CA and root token)",
                info.env_file.display()
            );
            println!();
            println!(
                "  SPIFFE ID: {} for your processes (agent socket {})",
                info.agent.workload_id,
                info.agent.socket.display()
            );
            println!();
            spawn_dev_agent(info);
            println!("In another shell:");
            println!("  . {}", info.env_file.display());
            println!("  sigil kv put secret/hello value=world && sigil kv get secret/hello");
            println!();
            println!(
                "The store is auto-unsealed from {}/unseal.key. Ctrl-C stops the server.",
                args.dir.display()
            );
        }))
        .map_err(CliError::failed)
}

/// Runs the node agent beside the dev server, for as long as the process lives.
fn spawn_dev_agent(info: &DevInfo) {
    let agent = &info.agent;
    if let Some(dir) = agent.socket.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("the dev agent cannot start: {}: {e}", dir.display());
        return;
    }
    let config = sigil_agent::node::NodeConfig {
        server: info.addr.clone(),
        server_ca: info.ca_file.clone(),
        mount: "spiffe".into(),
        data_dir: agent.data_dir.clone(),
        attestation: sigil_agent::node::Attestation::JoinToken(agent.join_token.clone()),
        sync_interval: std::time::Duration::from_secs(5),
    };
    let socket = agent.socket.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::cmd::agent::run_agent(config, socket, std::future::pending()).await {
            eprintln!("the dev agent stopped: {e}");
        }
    });
}

pub(crate) fn server(args: &ServerArgs) -> CliResult {
    let config = Config::load(&args.config).map_err(CliError::usage)?;
    init_logging(&config.log.level, &config.log.format);
    runtime()?
        .block_on(server::run(config))
        .map_err(CliError::failed)
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("starting the runtime: {e}")))
}

pub(crate) fn init_logging(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
