//! `[source.queries]` entries (a PromQL string, or a table saying how an
//! absent sample reads) and `[[services]]` limit overrides.
//!
//! Absent samples: a query's series may not exist at an instant, e.g.
//! `rate(http_requests_total{code=~"5.."}[1m])` has no series until the first
//! 5xx. `absent = "zero"` reads such an instant as 0 wherever the service has
//! any other series present (so `errors / requests` is 0, not absent, before
//! the first error); `absent = "gap"` keeps it absent, counting neither way.
//! Defaults: `zero` for `errors`, `gap` for every other query.

use crate::model::Metric;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// How an absent sample of a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Absent {
    /// Absent while the service has other series present: 0 (counters of
    /// rare events, e.g. 5xx responses).
    Zero,
    /// Absent stays absent: neither a breach nor a non-breach.
    Gap,
}

impl Absent {
    /// The default for a metric: `zero` for `errors`, `gap` otherwise.
    pub fn default_for(metric: Metric) -> Absent {
        match metric {
            Metric::Errors => Absent::Zero,
            _ => Absent::Gap,
        }
    }

    /// The word as written in the config.
    pub fn word(self) -> &'static str {
        match self {
            Absent::Zero => "zero",
            Absent::Gap => "gap",
        }
    }
}

/// One query of `[source.queries]`: `errors = '…'` or
/// `errors = { query = '…', absent = "zero" }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// The PromQL text; empty switches the metric off.
    pub promql: String,
    /// How an absent sample reads; `None` means the metric's default.
    pub absent: Option<Absent>,
}

impl Query {
    /// How an absent sample of this query, for `metric`, reads.
    pub fn absent_for(&self, metric: Metric) -> Absent {
        self.absent.unwrap_or_else(|| Absent::default_for(metric))
    }
}

impl From<&str> for Query {
    fn from(s: &str) -> Self {
        Query {
            promql: s.to_string(),
            absent: None,
        }
    }
}

impl PartialEq<&str> for Query {
    fn eq(&self, other: &&str) -> bool {
        self.promql == *other
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryTable {
    query: String,
    #[serde(default)]
    absent: Option<Absent>,
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Query;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a PromQL string, or a table { query = '…', absent = \"zero\" | \"gap\" }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Query, E> {
                Ok(Query::from(s))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Query, A::Error> {
                let t = QueryTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Query {
                    promql: t.query,
                    absent: t.absent,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[services]]`: what medic is told about one service that its metrics
/// do not say, such as a limit enforced outside the container runtime.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service, as the service label names it.
    pub name: String,
    /// Memory limit (`2Gi`, `512Mi`, `1.5G` or a number of bytes), used
    /// where the source exports none (absent, 0 or not finite).
    #[serde(default)]
    pub memory_limit: Option<Bytes>,
    /// CPU limit in cores, used where the source exports none.
    #[serde(default)]
    pub cpu_limit: Option<f64>,
}

/// A size in bytes, written `2Gi`, `512Mi`, `1.5G`, `100k` or as a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bytes(pub f64);

impl Bytes {
    /// Parse `2Gi` (binary), `2G` (decimal), `2GB`, or a plain number.
    pub fn parse(s: &str) -> Result<Bytes, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size: write e.g. 2Gi, 512Mi or 1073741824"))?;
        let mult = match unit.trim() {
            "" | "B" => 1.0,
            "k" | "K" | "kB" | "KB" => 1e3,
            "M" | "MB" => 1e6,
            "G" | "GB" => 1e9,
            "T" | "TB" => 1e12,
            "Ki" | "KiB" => 1024.0,
            "Mi" | "MiB" => 1024.0 * 1024.0,
            "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
            "Ti" | "TiB" => 1024.0_f64.powi(4),
            u => {
                return Err(format!(
                    "`{s}`: unknown size unit `{u}` (use Ki, Mi, Gi, Ti or k, M, G, T)"
                ))
            }
        };
        Ok(Bytes(n * mult))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"2Gi\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Bytes, E> {
                Bytes::parse(s).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Bytes, E> {
                Ok(Bytes(n as f64))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Bytes, E> {
                Ok(Bytes(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Bytes, E> {
                Ok(Bytes(n))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[services]]` checks: names unique, limits positive and finite.
pub(super) fn validate_services(services: &[ServiceConfig]) -> Result<(), (String, String)> {
    for (i, s) in services.iter().enumerate() {
        if services[..i].iter().any(|o| o.name == s.name) {
            return Err((
                format!("services[{i}].name"),
                format!("`{}` is listed twice; merge the two entries", s.name),
            ));
        }
        if let Some(b) = s.memory_limit {
            if !(b.0.is_finite() && b.0 > 0.0) {
                return Err((
                    format!("services[{i}].memory_limit"),
                    "must be a size above 0, e.g. \"2Gi\"".into(),
                ));
            }
        }
        if let Some(c) = s.cpu_limit {
            if !(c.is_finite() && c > 0.0) {
                return Err((
                    format!("services[{i}].cpu_limit"),
                    "must be a number of cores above 0, e.g. 2".into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn queries_take_a_string_or_a_table_and_errors_default_to_zero() {
        let c = Config::parse(
            "[source.queries]\ncpu = 'a'\nerrors = { query = 'b', absent = \"gap\" }\nrequests = { query = 'c' }\n",
            Path::new("x"),
        )
        .unwrap();
        let [cpu, _, _, _, requests, errors] = c.source.queries().map(|(_, q)| q);
        assert_eq!(cpu, "a");
        assert_eq!(cpu.absent_for(Metric::Cpu), Absent::Gap);
        assert_eq!(errors.promql, "b");
        assert_eq!(errors.absent_for(Metric::Errors), Absent::Gap);
        assert_eq!(requests.absent_for(Metric::Requests), Absent::Gap);
        let d = Config::default();
        let (m, errors) = &d.source.queries()[5];
        assert_eq!(errors.absent_for(*m), Absent::Zero);
        let e = Config::parse(
            "[source.queries]\nerrors = { query = 'b', absent = \"none\" }\n",
            Path::new("m.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("source.queries.errors") && e.contains("zero"),
            "{e}"
        );
    }

    #[test]
    fn services_give_limits_in_sizes_and_cores() {
        let c = Config::parse(
            "[[services]]\nname = \"api\"\nmemory_limit = \"2Gi\"\ncpu_limit = 2\n\n[[services]]\nname = \"web\"\nmemory_limit = 1000\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(
            c.services[0].memory_limit,
            Some(Bytes(2.0 * 1024.0 * 1024.0 * 1024.0))
        );
        assert_eq!(c.services[0].cpu_limit, Some(2.0));
        assert_eq!(c.services[1].memory_limit, Some(Bytes(1000.0)));
        assert_eq!(Bytes::parse("1.5G"), Ok(Bytes(1.5e9)));
        assert!(Bytes::parse("2 gallons").is_err());
        let e = Config::parse(
            "[[services]]\nname = \"a\"\ncpu_limit = 0\n",
            Path::new("m.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("services[0].cpu_limit"), "{e}");
    }
}
