//! `sigil dev` and `sigil server`: start the runtime and logging, then hand over to
//! `sigil_server`.

use sigil_server::config::Config;
use sigil_server::server::{self, DevOptions};

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

pub(crate) fn server(args: &ServerArgs) -> CliResult {
    let config = Config::load(&args.config).map_err(CliError::usage)?;
    init_logging(&config.log.level, &config.log.format);
    runtime()?
        .block_on(server::run(config))
        .map_err(CliError::failed)
}

pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("starting the runtime: {e}")))
}

fn init_logging(level: &str, format: &str) {
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
