//! `sigil audit verify`: checks an audit log's hash chain offline.

use std::io::BufReader;

use crate::cli::AuditVerifyArgs;
use crate::exit::{CliError, CliResult};

pub(crate) fn verify(args: &AuditVerifyArgs) -> CliResult {
    let file = std::fs::File::open(&args.file).map_err(|e| CliError::io("read", &args.file, &e))?;
    match sigil_server::audit::verify(BufReader::new(file)) {
        Ok(summary) => {
            println!(
                "{}: intact: {} records, last seq {}, last hash {}",
                args.file.display(),
                summary.records,
                summary.last_seq,
                summary.last_hash
            );
            Ok(())
        }
        Err(e) => Err(CliError::failed(format!("{}: {e}", args.file.display()))),
    }
}
