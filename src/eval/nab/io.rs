//! Reading NAB's files: `timestamp,value` CSVs and `combined_windows.json`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::NabError;

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) into unix milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut ms = 0i64;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 {
            return None;
        }
        let frac = &s[20..];
        if !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut digits = frac.bytes().take(3).map(|c| (c - b'0') as i64);
        for scale in [100, 10, 1] {
            ms += digits.next().unwrap_or(0) * scale;
        }
    }
    Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One NAB data file as read from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Timestamp text of each row, as in the input.
    pub timestamp_text: Vec<String>,
    /// Timestamp of each row in unix milliseconds.
    pub timestamps: Vec<i64>,
    /// Value text of each row, as in the input.
    pub value_text: Vec<String>,
    /// Parsed value of each row (NaN when empty).
    pub values: Vec<f64>,
}

/// Reads a `timestamp,value` CSV with a header line.
pub fn read_series(path: &Path) -> Result<Series, NabError> {
    let text = fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut series = Series::default();
    let csv_err = |line: usize, message: String| NabError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim().starts_with("timestamp") => {}
        _ => return Err(csv_err(1, "expected header `timestamp,value`".into())),
    }
    for (idx, line) in lines {
        let line_no = idx + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (ts, val) = line
            .split_once(',')
            .ok_or_else(|| csv_err(line_no, format!("expected `timestamp,value`, got {line:?}")))?;
        let t =
            parse_timestamp(ts).ok_or_else(|| csv_err(line_no, format!("bad timestamp {ts:?}")))?;
        let v_trim = val.trim();
        let v = if v_trim.is_empty() {
            f64::NAN
        } else {
            v_trim
                .parse::<f64>()
                .map_err(|_| csv_err(line_no, format!("bad value {val:?}")))?
        };
        series.timestamp_text.push(ts.to_string());
        series.timestamps.push(t);
        series.value_text.push(val.to_string());
        series.values.push(v);
    }
    Ok(series)
}

/// Reads `labels/combined_windows.json` into `"<category>/<name>.csv"` →
/// list of `(start_ms, end_ms)`.
pub fn read_labels(path: &Path) -> Result<HashMap<String, Vec<(i64, i64)>>, NabError> {
    let err = |message: String| NabError::Labels {
        path: path.to_path_buf(),
        message,
    };
    let text = fs::read_to_string(path).map_err(|source| NabError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let obj = json
        .as_object()
        .ok_or_else(|| err("expected a JSON object".into()))?;
    let mut out = HashMap::new();
    for (key, windows) in obj {
        let list = windows
            .as_array()
            .ok_or_else(|| err(format!("{key}: expected a list of windows")))?;
        let mut parsed = Vec::with_capacity(list.len());
        for w in list {
            let pair = w
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| err(format!("{key}: expected [start, end]")))?;
            let mut ends = [0i64; 2];
            for (slot, v) in ends.iter_mut().zip(pair) {
                let s = v
                    .as_str()
                    .ok_or_else(|| err(format!("{key}: window bound is not a string")))?;
                *slot = parse_timestamp(s)
                    .ok_or_else(|| err(format!("{key}: bad window timestamp {s:?}")))?;
            }
            parsed.push((ends[0], ends[1]));
        }
        parsed.sort_unstable();
        out.insert(key.clone(), parsed);
    }
    Ok(out)
}

/// Maps time windows onto inclusive row ranges (rows with `start <= t <= end`);
/// windows containing no row are dropped.
pub fn windows_to_rows(timestamps: &[i64], windows: &[(i64, i64)]) -> Vec<(usize, usize)> {
    windows
        .iter()
        .filter_map(|&(a, b)| {
            let first = timestamps.partition_point(|&t| t < a);
            let end = timestamps.partition_point(|&t| t <= b);
            (end > first).then(|| (first, end - 1))
        })
        .collect()
}

pub(super) fn list_dir(path: &Path) -> Result<Vec<PathBuf>, NabError> {
    let io = |source| NabError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for e in fs::read_dir(path).map_err(io)? {
        entries.push(e.map_err(io)?.path());
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            Some(1_397_114_100_000)
        );
        assert_eq!(
            parse_timestamp("2000-03-01 00:00:01.5"),
            Some(951_868_801_500)
        );
        assert_eq!(parse_timestamp("2014-04-10 07:15"), None);
        assert_eq!(parse_timestamp("2014-13-10 07:15:00"), None);
    }
}
