//! Memory sizes as manifests spell them: Kubernetes quantities (`32G`,
//! `32Gi`, `512Mi`, `1.5G`, `129e6`), Docker/Compose byte strings (`512m`,
//! `1gb`, binary units) and Fly sizes (`'16gb'`, `1024` = MB).
//!
//! Parsing is exact (integer arithmetic, rounded up the way Kubernetes
//! rounds), and a new value is written in the original's own style, so a
//! diff changes `32G` to `48G`, never to `48000000000`.

use std::fmt;

/// How a manifest spells memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Kubernetes resource quantities: `k M G T P E` are powers of 1000,
    /// `Ki Mi Gi Ti Pi Ei` powers of 1024, plus `m` and exponents.
    K8s,
    /// Docker and Compose: `b k m g t p`, optionally followed by `b` or `ib`,
    /// any case, all powers of 1024.
    Docker,
    /// Fly.io `[[vm]] memory`: `gb`/`mb` strings (1gb = 1024mb) or a plain number of MB.
    Fly,
}

/// A size that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a memory size ({why})")]
pub struct QuantityError {
    /// The text as found.
    pub text: String,
    /// What was wrong with it.
    pub why: &'static str,
}

fn err(text: &str, why: &'static str) -> QuantityError {
    QuantityError {
        text: text.to_string(),
        why,
    }
}

/// A unit within one family, largest first.
#[derive(Debug, Clone)]
struct Unit {
    suffix: String,
    bytes: u128,
}

const KI: u128 = 1024;

/// Parses `text` in `style` to bytes, rounding a fraction of a byte up.
pub fn parse(text: &str, style: Style) -> Result<u64, QuantityError> {
    let t = text.trim();
    let (number, suffix) = split_number(t).ok_or_else(|| err(text, "no number"))?;
    let (num, den) = decimal(number).ok_or_else(|| err(text, "bad number"))?;
    let (mul_num, mul_den): (u128, u128) = match style {
        Style::K8s => k8s_multiplier(suffix).ok_or_else(|| err(text, "unknown suffix"))?,
        Style::Docker => (
            docker_multiplier(suffix).ok_or_else(|| err(text, "unknown unit"))?,
            1,
        ),
        Style::Fly => (
            fly_multiplier(suffix).ok_or_else(|| err(text, "unknown unit"))?,
            1,
        ),
    };
    let n = num
        .checked_mul(mul_num)
        .ok_or_else(|| err(text, "too large"))?;
    let d = den
        .checked_mul(mul_den)
        .ok_or_else(|| err(text, "too large"))?;
    let bytes = n.div_ceil(d);
    u64::try_from(bytes).map_err(|_| err(text, "too large"))
}

/// Writes `bytes` in the style of `original` (same unit and letter case
/// where it divides evenly; otherwise the next smaller unit of the same
/// family, or the same unit rounded up once the number is 10 or more, so
/// the result is never below `bytes`).
pub fn format_like(original: &str, bytes: u64, style: Style) -> String {
    let t = original.trim();
    let Some((_, suffix)) = split_number(t) else {
        return bytes.to_string();
    };
    let family = family(suffix, style);
    let start = family
        .iter()
        .position(|u| u.suffix == suffix)
        .unwrap_or(family.len() - 1);
    let b = bytes as u128;
    for (i, unit) in family.iter().enumerate().skip(start) {
        let last = i == family.len() - 1;
        if b % unit.bytes == 0 || last || b / unit.bytes >= 10 {
            return format!("{}{}", b.div_ceil(unit.bytes), unit.suffix);
        }
    }
    bytes.to_string()
}

/// Splits `12.5Gi` into (`12.5`, `Gi`); an exponent (`129e6`) stays with the number.
fn split_number(t: &str) -> Option<(&str, &str)> {
    let bytes = t.as_bytes();
    let mut i = 0;
    if i < bytes.len() && bytes[i] == b'+' {
        i += 1;
    }
    let digits_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    // An exponent: `e`/`E` followed by an optional sign and digits, and nothing else.
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        let exp_digits = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_digits && j == bytes.len() {
            return Some((&t[..j], ""));
        }
    }
    Some((&t[..i], t[i..].trim_start()))
}

/// `12.5` → (125, 10); `129e6` → (129000000, 1); `1e-3` → (1, 1000).
fn decimal(s: &str) -> Option<(u128, u128)> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], s[p + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') || int.len() + frac.len() > 30 {
        return None;
    }
    let digits: String = format!("{int}{frac}");
    let num: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut den: u128 = 10u128.checked_pow(frac.len() as u32)?;
    let mut num = num;
    if !(-30..=30).contains(&exp) {
        return None;
    }
    if exp >= 0 {
        num = num.checked_mul(10u128.pow(exp as u32))?;
    } else {
        den = den.checked_mul(10u128.pow((-exp) as u32))?;
    }
    Some((num, den))
}

fn k8s_multiplier(suffix: &str) -> Option<(u128, u128)> {
    Some(match suffix {
        "" => (1, 1),
        "m" => (1, 1000),
        "u" => (1, 1_000_000),
        "n" => (1, 1_000_000_000),
        "k" => (1000, 1),
        "M" => (1000u128.pow(2), 1),
        "G" => (1000u128.pow(3), 1),
        "T" => (1000u128.pow(4), 1),
        "P" => (1000u128.pow(5), 1),
        "E" => (1000u128.pow(6), 1),
        "Ki" => (KI, 1),
        "Mi" => (KI.pow(2), 1),
        "Gi" => (KI.pow(3), 1),
        "Ti" => (KI.pow(4), 1),
        "Pi" => (KI.pow(5), 1),
        "Ei" => (KI.pow(6), 1),
        _ => return None,
    })
}

fn docker_multiplier(suffix: &str) -> Option<u128> {
    let s = suffix.to_ascii_lowercase();
    let letter = s
        .strip_suffix("ib")
        .or_else(|| s.strip_suffix('b').filter(|r| !r.is_empty()))
        .unwrap_or(&s);
    Some(match letter {
        "" | "b" => 1,
        "k" => KI,
        "m" => KI.pow(2),
        "g" => KI.pow(3),
        "t" => KI.pow(4),
        "p" => KI.pow(5),
        _ => return None,
    })
}

fn fly_multiplier(suffix: &str) -> Option<u128> {
    Some(match suffix.to_ascii_lowercase().as_str() {
        "" | "mb" => KI.pow(2),
        "gb" => KI.pow(3),
        _ => return None,
    })
}

/// The units of `suffix`'s family, largest first, ending with the smallest
/// one the style can write.
fn family(suffix: &str, style: Style) -> Vec<Unit> {
    let u = |s: &str, b: u128| Unit {
        suffix: s.to_string(),
        bytes: b,
    };
    match style {
        Style::K8s if suffix.ends_with('i') => vec![
            u("Ei", KI.pow(6)),
            u("Pi", KI.pow(5)),
            u("Ti", KI.pow(4)),
            u("Gi", KI.pow(3)),
            u("Mi", KI.pow(2)),
            u("Ki", KI),
            u("", 1),
        ],
        Style::K8s => vec![
            u("E", 1000u128.pow(6)),
            u("P", 1000u128.pow(5)),
            u("T", 1000u128.pow(4)),
            u("G", 1000u128.pow(3)),
            u("M", 1000u128.pow(2)),
            u("k", 1000),
            u("", 1),
        ],
        Style::Docker => {
            // Keep the letter's case and the tail (`b`, `ib`, `B`) of the original.
            let lower = suffix.to_ascii_lowercase();
            let (letter_len, tail) = if lower.ends_with("ib") && suffix.len() > 2 {
                (suffix.len() - 2, &suffix[suffix.len() - 2..])
            } else if lower.ends_with('b') && suffix.len() > 1 {
                (suffix.len() - 1, &suffix[suffix.len() - 1..])
            } else {
                (suffix.len(), "")
            };
            let upper = suffix[..letter_len].chars().any(|c| c.is_ascii_uppercase());
            let mut units: Vec<Unit> = [("p", 5), ("t", 4), ("g", 3), ("m", 2), ("k", 1)]
                .iter()
                .map(|(l, p)| {
                    let l = if upper {
                        l.to_ascii_uppercase()
                    } else {
                        l.to_string()
                    };
                    u(&format!("{l}{tail}"), KI.pow(*p))
                })
                .collect();
            units.push(u("", 1));
            units
        }
        Style::Fly => {
            let upper = suffix.chars().any(|c| c.is_ascii_uppercase());
            if suffix.is_empty() {
                // A plain number of MB stays a plain number of MB.
                vec![u("", KI.pow(2))]
            } else if upper {
                vec![u("GB", KI.pow(3)), u("MB", KI.pow(2))]
            } else {
                vec![u("gb", KI.pow(3)), u("mb", KI.pow(2))]
            }
        }
    }
}

/// Bytes as an engineer reads them in a summary: `48 GB`, `1.5 GiB`.
pub struct Human(pub u64);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if self.0 >= 1 << 30 && self.0 % (1 << 20) == 0 && self.0 % 1_000_000 != 0 {
            write!(f, "{} GiB", trim(b / (1u64 << 30) as f64))
        } else {
            write!(f, "{}", crate::units::bytes(b))
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_quantities() {
        let p = |s| parse(s, Style::K8s);
        assert_eq!(p("32G"), Ok(32_000_000_000));
        assert_eq!(p("32Gi"), Ok(32 << 30));
        assert_eq!(p("512Mi"), Ok(512 << 20));
        assert_eq!(p("1.5G"), Ok(1_500_000_000));
        assert_eq!(p("0.5Gi"), Ok(512 << 20));
        assert_eq!(p("129e6"), Ok(129_000_000));
        assert_eq!(p("129E6"), Ok(129_000_000));
        assert_eq!(p("128974848"), Ok(128_974_848));
        assert_eq!(p("1k"), Ok(1000));
        assert_eq!(p("1Ki"), Ok(1024));
        // Milli-bytes round up to a whole byte, as Kubernetes does.
        assert_eq!(p("1500m"), Ok(2));
        assert_eq!(p(" 2G "), Ok(2_000_000_000));
        assert!(p("1K").is_err(), "K is not a k8s suffix (k is)");
        assert!(p("G").is_err());
        assert!(p("1.2.3G").is_err());
        assert!(p("").is_err());
        assert!(p("-1G").is_err());
        assert!(p("99999999999E").is_err(), "overflows u64");
    }

    #[test]
    fn docker_and_fly_sizes() {
        assert_eq!(parse("512m", Style::Docker), Ok(512 << 20));
        assert_eq!(parse("1g", Style::Docker), Ok(1 << 30));
        assert_eq!(parse("1GB", Style::Docker), Ok(1 << 30));
        assert_eq!(parse("2GiB", Style::Docker), Ok(2 << 30));
        assert_eq!(parse("1048576", Style::Docker), Ok(1 << 20));
        assert_eq!(parse("16gb", Style::Fly), Ok(16 << 30));
        assert_eq!(parse("512mb", Style::Fly), Ok(512 << 20));
        assert_eq!(parse("2048", Style::Fly), Ok(2 << 30));
        assert!(parse("1x", Style::Docker).is_err());
    }

    #[test]
    fn written_in_the_originals_style() {
        assert_eq!(format_like("32G", 48_000_000_000, Style::K8s), "48G");
        assert_eq!(format_like("32Gi", 48 << 30, Style::K8s), "48Gi");
        assert_eq!(format_like("512Mi", 768 << 20, Style::K8s), "768Mi");
        assert_eq!(format_like("512M", 768_000_000, Style::K8s), "768M");
        // 1.5 Gi does not divide: the next smaller unit.
        assert_eq!(format_like("1Gi", 3 << 29, Style::K8s), "1536Mi");
        // 48 GB in Gi is 44.7: big enough to round up in the same unit, never below.
        assert_eq!(format_like("32Gi", 48_000_000_000, Style::K8s), "45Gi");
        assert_eq!(format_like("134217728", 1 << 28, Style::K8s), "268435456");
        assert_eq!(format_like("1G", 1_500_000_000, Style::K8s), "1500M");
        assert_eq!(format_like("1g", 2 << 30, Style::Docker), "2g");
        assert_eq!(format_like("1GB", 3 << 29, Style::Docker), "1536MB");
        assert_eq!(format_like("512m", 1 << 30, Style::Docker), "1024m");
        assert_eq!(format_like("16gb", 24 << 30, Style::Fly), "24gb");
        assert_eq!(format_like("1gb", 3 << 29, Style::Fly), "1536mb");
        assert_eq!(format_like("2048", 3 << 30, Style::Fly), "3072");
    }

    #[test]
    fn round_trips() {
        for s in ["48G", "45Gi", "1536Mi", "7k", "3E", "100"] {
            let b = parse(s, Style::K8s).unwrap();
            assert_eq!(format_like(s, b, Style::K8s), s);
        }
    }
}
