//! Human-readable values with their units: `31.2 GB / 32 GB (97%)`, `1.5 cores`, `12 req/s`.
//!
//! One place decides how numbers look, so the CLI table, the TUI and the PR
//! body never disagree.

use crate::model::{Metric, Millis, Unit};

/// A value in its unit, e.g. `31.2 GB`, `0.85 cores`, `12.4 req/s`, `9.1%`.
pub fn value(v: f64, unit: Unit) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    match unit {
        Unit::Bytes => bytes(v),
        Unit::Cores => {
            if v.abs() < 10.0 {
                format!("{v:.2} cores")
            } else {
                format!("{v:.1} cores")
            }
        }
        Unit::PerSecond => per_second(v),
        Unit::Ratio => percent(v),
        Unit::Number => number(v),
    }
}

/// Decimal bytes: `512 MB`, `31.2 GB`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut x = v;
    let mut i = 0;
    while x.abs() >= 1000.0 && i < UNITS.len() - 1 {
        x /= 1000.0;
        i += 1;
    }
    if i == 0 || (x - x.round()).abs() < 0.05 {
        format!("{:.0} {}", x.round(), UNITS[i])
    } else {
        format!("{x:.1} {}", UNITS[i])
    }
}

/// Rates: `12 req/s`, `0.3 req/s`.
pub fn per_second(v: f64) -> String {
    if v.abs() >= 99.5 {
        format!("{v:.0}/s")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}/s")
    } else {
        format!("{v:.2}/s")
    }
}

/// A ratio as a percentage: `0.091` → `9.1%`.
pub fn percent(r: f64) -> String {
    if !r.is_finite() {
        return "—".to_string();
    }
    let p = r * 100.0;
    if p.abs() >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A plain number with sensible precision.
pub fn number(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A metric's value against its limit: `31.2 GB / 32 GB (97%)`.
pub fn usage(v: f64, limit: Option<f64>, unit: Unit) -> String {
    match limit.filter(|l| l.is_finite() && *l > 0.0) {
        Some(l) if v.is_finite() => format!(
            "{} / {} ({})",
            value(v, unit),
            value(l, unit),
            percent(v / l)
        ),
        _ => value(v, unit),
    }
}

/// The readable form of a metric's current value, with limit or traffic context.
///
/// Errors are shown as a share of requests (`9.1% of 40/s`), CPU and memory
/// against their limits.
pub fn metric_reading(
    metric: Metric,
    v: Option<f64>,
    limit: Option<f64>,
    requests: Option<f64>,
) -> String {
    let Some(v) = v else {
        return "absent".to_string();
    };
    match metric {
        Metric::Errors => match requests.filter(|r| *r > 0.0) {
            Some(r) => format!(
                "{} errors ({} of {})",
                percent(v / r),
                per_second(v),
                per_second(r)
            ),
            None => format!("{} errors", per_second(v)),
        },
        m => usage(v, limit, m.unit()),
    }
}

/// A duration as Prometheus writes it: `5m`, `1h30m`, `45s`, `250ms`.
pub fn duration(ms: Millis) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if rest > 0 {
        out.push_str(&format!("{rest}ms"));
    }
    out
}

/// Parse a duration: Prometheus style (`5m`, `1h30m`, `90s`, `250ms`, `2d`).
pub fn parse_duration(s: &str) -> Result<Millis, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let mut total: Millis = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "`{s}` is not a duration (try `30s`, `5m`, `1h30m`)"
            ));
        }
        let n: Millis = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let size = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "" => return Err(format!("`{s}` needs a unit (ms, s, m, h, d, w)")),
            u => return Err(format!("`{s}`: unknown unit `{u}` (ms, s, m, h, d, w)")),
        };
        total = total
            .checked_add(
                n.checked_mul(size)
                    .ok_or_else(|| format!("`{s}` is too long"))?,
            )
            .ok_or_else(|| format!("`{s}` is too long"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// An RFC 3339 UTC timestamp, seconds precision: `2026-11-28T03:14:00Z`.
pub fn rfc3339(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parse an RFC 3339 time with any offset (`Z`, `+02:00`, `-0600`) and
/// optional fractional seconds, as status pages and Alertmanager write them.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let s = s.trim();
    let t = s.find(['T', 't'])?;
    // The offset starts at the last `+`, `-` or `Z` after the `T`.
    let cut = t + s[t..].rfind(['+', '-', 'Z', 'z'])?;
    let (local, offset) = s.split_at(cut);
    let offset_ms = match offset {
        "Z" | "z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let m: i64 = digits[2..].parse().ok()?;
            sign * (h * 60 + m) * 60_000
        }
    };
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as Millis;
    Some(ms - offset_ms)
}

/// Clock time of day in UTC: `03:14`.
pub fn clock(ms: Millis) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60)
}

/// How long ago, compactly: `12m ago`.
pub fn ago(now: Millis, then: Millis) -> String {
    let d = (now - then).max(0);
    let rounded = if d >= 3_600_000 {
        d / 60_000 * 60_000
    } else {
        d / 1000 * 1000
    };
    format!("{} ago", duration(rounded))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_with_offsets() {
        let utc = super::parse_rfc3339("2014-05-14T20:22:39.441Z").unwrap();
        assert_eq!(
            super::parse_rfc3339("2014-05-14T14:22:39.441-06:00"),
            Some(utc)
        );
        assert_eq!(
            super::parse_rfc3339("2014-05-14T22:22:39.441+0200"),
            Some(utc)
        );
        assert_eq!(super::rfc3339(utc), "2014-05-14T20:22:39Z");
        assert_eq!(super::parse_rfc3339("yesterday"), None);
        assert_eq!(super::parse_rfc3339("2014-05-14T14:22:39+6"), None);
    }

    use super::*;

    #[test]
    fn shows_memory_against_its_limit() {
        assert_eq!(
            usage(31.2e9, Some(32e9), Unit::Bytes),
            "31.2 GB / 32 GB (98%)"
        );
        assert_eq!(
            usage(0.5, Some(2.0), Unit::Cores),
            "0.50 cores / 2.00 cores (25%)"
        );
        assert_eq!(usage(1.0, None, Unit::Cores), "1.00 cores");
    }

    #[test]
    fn durations_round_trip() {
        for s in ["5m", "1h30m", "45s", "250ms", "2d", "1m30s"] {
            assert_eq!(duration(parse_duration(s).unwrap()), s);
        }
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(clock(3_723_000), "01:02");
    }
}
