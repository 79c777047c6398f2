//! Text sparklines: a window of values squeezed into N cells, for the TUI,
//! the CLI and PR bodies alike.
//!
//! Each cell shows the peak of its bucket (spikes stay visible); an
//! all-absent bucket is a blank, never a zero bar.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const ASCII: [char; 8] = ['_', '.', '-', '~', '=', '+', '*', '#'];

/// Render `values` (NaN = absent) as `width` cells scaled to `0..=max`.
pub fn spark(values: &[f64], width: usize, max: f64, ascii: bool) -> String {
    let bars = if ascii { &ASCII } else { &BARS };
    if width == 0 {
        return String::new();
    }
    if values.is_empty() {
        return " ".repeat(width);
    }
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE)
    };
    let cells = width.min(values.len());
    let mut out = String::with_capacity(width * 3);
    // Right-align: the newest value is always the last cell.
    out.extend(std::iter::repeat_n(' ', width - cells));
    for c in 0..cells {
        let lo = c * values.len() / cells;
        let hi = ((c + 1) * values.len() / cells).max(lo + 1);
        let peak = values[lo..hi]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max);
        if peak.is_nan() {
            out.push(' ');
        } else {
            let level = ((peak / max).clamp(0.0, 1.0) * (bars.len() - 1) as f64).round() as usize;
            out.push(bars[level]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_keeps_absent_blank() {
        assert_eq!(spark(&[0.0, 0.5, 1.0], 3, 1.0, false), "▁▅█");
        assert_eq!(spark(&[0.0, f64::NAN, 1.0], 3, 1.0, false), "▁ █");
        assert_eq!(spark(&[1.0], 3, 1.0, true), "  #");
        assert_eq!(spark(&[], 2, 1.0, false), "  ");
    }

    #[test]
    fn buckets_keep_the_peak() {
        let mut v = vec![0.0; 100];
        v[42] = 1.0;
        let s = spark(&v, 10, 1.0, false);
        assert_eq!(s.chars().filter(|c| *c == '█').count(), 1, "{s}");
    }
}
