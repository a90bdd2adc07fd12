//! Prometheus metrics: requests by mount, method and status with latency histograms, the seal
//! state, and audit failures, rendered in the text exposition format at
//! `/v1/sys/metrics?format=prometheus`.
//!
//! A handful of series do not justify a metrics framework: counters are atomics in a map keyed
//! by their labels, created on first use.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Latency bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: AtomicU64,
    /// Sum of latencies in microseconds.
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

/// Labels of one request series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Labels {
    mount: String,
    method: &'static str,
    status: u16,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<Labels, Arc<Series>>>,
    sealed: AtomicU64,
    audit_failures: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Records one request.
    pub fn request(&self, mount: &str, method: &'static str, status: u16, latency: Duration) {
        let labels = Labels {
            mount: mount.to_owned(),
            method,
            status,
        };
        let existing = self
            .requests
            .read()
            .ok()
            .and_then(|m| m.get(&labels).cloned());
        let series = match existing {
            Some(s) => s,
            None => match self.requests.write() {
                Ok(mut m) => Arc::clone(m.entry(labels).or_default()),
                Err(_) => return,
            },
        };
        series.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        series.sum_micros.fetch_add(micros, Ordering::Relaxed);
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            series.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets the seal state gauge.
    pub fn set_sealed(&self, sealed: bool) {
        self.sealed.store(u64::from(sealed), Ordering::Relaxed);
    }

    /// Counts a request refused because no audit device recorded it.
    pub fn audit_failure(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sigil_core_sealed Whether the server is sealed (1) or not (0).\n");
        out.push_str("# TYPE sigil_core_sealed gauge\n");
        let _ = writeln!(
            out,
            "sigil_core_sealed {}",
            self.sealed.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP sigil_audit_failures_total Requests refused because no audit device recorded them.\n",
        );
        out.push_str("# TYPE sigil_audit_failures_total counter\n");
        let _ = writeln!(
            out,
            "sigil_audit_failures_total {}",
            self.audit_failures.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP sigil_http_request_duration_seconds API requests by mount, method and status.\n",
        );
        out.push_str("# TYPE sigil_http_request_duration_seconds histogram\n");
        let Ok(map) = self.requests.read() else {
            return out;
        };
        for (l, s) in map.iter() {
            let labels = format!(
                "mount=\"{}\",method=\"{}\",status=\"{}\"",
                escape(&l.mount),
                l.method,
                l.status
            );
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "sigil_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "sigil_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            #[allow(clippy::cast_precision_loss, reason = "a latency sum in seconds")]
            let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "sigil_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "sigil_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("secret/", "GET", 200, Duration::from_micros(700));
        m.request("secret/", "GET", 200, Duration::from_millis(30));
        m.request("sys/", "PUT", 403, Duration::from_millis(2));
        m.set_sealed(false);
        m.audit_failure();
        let text = m.render();
        assert!(text.contains("sigil_core_sealed 0"));
        assert!(text.contains("sigil_audit_failures_total 1"));
        let l = r#"mount="secret/",method="GET",status="200""#;
        assert!(
            text.contains(&format!("_bucket{{{l},le=\"0.001\"}} 1")),
            "{text}"
        );
        assert!(text.contains(&format!("_bucket{{{l},le=\"0.05\"}} 2")));
        assert!(text.contains(&format!("_count{{{l}}} 2")));
    }
}
