//! Timestamps in the forms Vault's API uses, from Unix time, without a date library: RFC 3339
//! UTC with whole seconds (`2026-11-23T06:54:18Z`), with Go's trimmed fraction
//! (`…:18.5Z`, what KV v2 returns), and with all nine fraction digits (the audit log).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    format(secs, None)
}

/// Unix nanoseconds as RFC 3339 with the fraction's trailing zeros trimmed, as Go prints
/// `time.Time` (no fraction at all on a whole second).
pub fn rfc3339_go(nanos: u64) -> String {
    let frac = nanos % 1_000_000_000;
    let digits = format!("{frac:09}");
    let trimmed = digits.trim_end_matches('0');
    format(
        nanos / 1_000_000_000,
        (!trimmed.is_empty()).then_some(trimmed),
    )
}

/// A time as RFC 3339 with nine fraction digits.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format(d.as_secs(), Some(&format!("{:09}", d.subsec_nanos())))
}

fn format(secs: u64, fraction: Option<&str>) -> String {
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`,
/// for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_416_858), "2026-11-23T06:54:18Z");
        assert_eq!(
            rfc3339_go(1_795_416_858_500_000_000),
            "2026-11-23T06:54:18.5Z"
        );
        assert_eq!(
            rfc3339_go(1_795_416_858_000_000_000),
            "2026-11-23T06:54:18Z"
        );
        let t = UNIX_EPOCH + Duration::new(1_795_416_858, 1_200);
        assert_eq!(rfc3339_nanos(t), "2026-11-23T06:54:18.000001200Z");
    }
}
