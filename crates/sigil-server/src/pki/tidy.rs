//! `tidy` and `tidy-status`: dropping stored certificates that expired longer than a safety
//! buffer ago, so `certs/` does not grow forever.
//!
//! Vault starts tidy in the background and answers 202 at once; Sigil runs the scan before
//! answering (still 202, with Vault's warning) and keeps the outcome for `tidy-status`. The
//! scan pages through `certs/` and takes the engine's lock only around each page's deletions,
//! so issuance and revocation go on while a large store is tidied.
//!
//! `tidy_revoked_certs` drops the revoked list's entries of certificates expired past the
//! buffer (see [`super::crl::tidy`]), so the CRL stops carrying them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sigil_core::encoding::Pem;
use sigil_storage::Page;
use tokio::sync::Mutex;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{Pki, rfc3339};
use crate::api::{ApiError, Request, Response, bool_field, duration_field};
use crate::view::{View, ViewOp, to_json};

/// Where the last run's outcome lives.
const STATUS_KEY: &str = "tidy/status";
/// Vault's default `safety_buffer`: 72 hours.
const DEFAULT_SAFETY_BUFFER: u64 = 72 * 3600;
/// Certificates read per page.
const PAGE: usize = 100;

/// The outcome of the last tidy, as `tidy-status` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Status {
    safety_buffer: u64,
    tidy_cert_store: bool,
    tidy_revoked_certs: bool,
    state: String,
    error: Option<String>,
    time_started: String,
    time_finished: String,
    message: String,
    cert_store_deleted_count: u64,
    revoked_cert_deleted_count: u64,
}

/// Whether a certificate whose `notAfter` is `not_after` is past tidying at `now`.
fn expired(not_after: i64, now: i64, buffer: u64) -> bool {
    not_after.saturating_add(i64::try_from(buffer).unwrap_or(i64::MAX)) < now
}

/// A stored certificate's `notAfter`, or `None` when the entry cannot be read (kept: tidy
/// never deletes what it does not understand).
fn not_after(entry: &[u8]) -> Option<i64> {
    let doc: Value = serde_json::from_slice(entry).ok()?;
    let der = Pem::decode_expecting(doc.get("certificate")?.as_str()?, "CERTIFICATE").ok()?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// `tidy`: checks the body, runs the scan, records and answers the outcome.
pub(super) async fn tidy(pki: &Pki, req: &Request, view: &View) -> Result<Response, ApiError> {
    let d = &req.data;
    let cert_store = bool_field(d, "tidy_cert_store")?.unwrap_or(false);
    let revoked = bool_field(d, "tidy_revoked_certs")?.unwrap_or(false)
        || bool_field(d, "tidy_revocation_list")?.unwrap_or(false);
    let buffer = duration_field(d, "safety_buffer")?.unwrap_or(DEFAULT_SAFETY_BUFFER);
    if buffer == 0 {
        // Vault's words.
        return Err(ApiError::bad("safety_buffer must be greater than zero"));
    }
    if !cert_store && !revoked {
        // Vault's words: a 202 that did nothing.
        return Ok(Response::empty()
            .warn("Manual tidy requested but no tidy operations were set. Enable at least one tidy operation to be run (tidy_cert_store, tidy_revoked_certs).")
            .with_status(202));
    }
    let now = i64::try_from(req.now_unix()).unwrap_or(i64::MAX);
    let mut status = Status {
        safety_buffer: buffer,
        tidy_cert_store: cert_store,
        tidy_revoked_certs: revoked,
        state: "Running".into(),
        time_started: rfc3339(now),
        ..Status::default()
    };
    let outcome = async {
        if cert_store {
            status.cert_store_deleted_count = scan(view, &pki.lock, now, buffer).await?;
        }
        if revoked {
            let cutoff = now.saturating_sub(i64::try_from(buffer).unwrap_or(i64::MAX));
            status.revoked_cert_deleted_count = pki.tidy_revoked(view, cutoff).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => {
            status.state = "Finished".into();
            status.message = "Tidying certificate store: done".into();
        }
        Err(e) => {
            status.state = "Error".into();
            status.error = Some(e.to_string());
        }
    }
    status.time_finished = rfc3339(now);
    view.put(STATUS_KEY, to_json(&status)?).await?;
    Ok(Response::empty()
        .warn("Tidy operation successfully started. Sigil runs it before answering; tidy-status shows its outcome.")
        .with_status(202))
}

/// Deletes the expired certificates under `certs/` (never the issuer's own), page by page.
async fn scan(view: &View, lock: &Mutex<()>, now: i64, buffer: u64) -> Result<u64, ApiError> {
    // Every issuer's own certificate stays, whichever issuer it is.
    let issuer_serials: Vec<String> = super::issuers::all_issuers(view)
        .await?
        .iter()
        .map(|e| e.serial_number.replace(':', "-"))
        .collect();
    let mut deleted = 0;
    let mut after: Option<String> = None;
    loop {
        let keys = view
            .list(
                "certs/",
                Page {
                    after: after.as_deref(),
                    limit: Some(PAGE),
                },
            )
            .await?;
        let Some(last) = keys.last().cloned() else {
            break;
        };
        let mut ops = Vec::new();
        for key in &keys {
            if issuer_serials.contains(key) || key.ends_with('/') {
                continue;
            }
            let path = format!("certs/{key}");
            if let Some(entry) = view.get(&path).await?
                && not_after(&entry).is_some_and(|t| expired(t, now, buffer))
            {
                ops.push(ViewOp::Delete(path));
            }
        }
        if !ops.is_empty() {
            deleted += ops.len() as u64;
            let _guard = lock.lock().await;
            view.transaction(ops).await?;
        }
        if keys.len() < PAGE {
            break;
        }
        after = Some(last);
    }
    Ok(deleted)
}

/// `tidy-status`: the last run's outcome, or Vault's "Inactive" before any.
pub(super) async fn status(view: &View) -> Result<Response, ApiError> {
    let data = match view.get_json::<Status>(STATUS_KEY).await? {
        Some(s) => match serde_json::to_value(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        None => match json!({"state": "Inactive"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    };
    Ok(Response::data(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_respected() {
        assert!(!expired(100, 150, 60));
        assert!(!expired(100, 160, 60));
        assert!(expired(100, 161, 60));
        assert!(!expired(i64::MAX, 0, u64::MAX));
    }
}
