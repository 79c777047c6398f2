//! Instant queries (`/api/v1/query`): one vector at one instant, for the
//! few checks and facts that are not series on the grid (`medic doctor`'s
//! counts, Kubernetes evidence). Small answers, parsed as JSON values.

use super::{http, Prometheus};
use crate::model::Millis;
use std::collections::BTreeMap;

/// One sample of a vector answer: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Every label of the series (`__name__` included when present).
    pub labels: BTreeMap<String, String>,
    /// The value (NaN and ±Inf as Prometheus writes them).
    pub value: f64,
}

impl Sample {
    /// A label's value, or "" when the series does not have it.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

impl Prometheus {
    /// The vector `promql` evaluates to at `at`; errors name the query and server.
    pub async fn instant(&self, promql: &str, at: Millis) -> Result<Vec<Sample>, String> {
        let endpoint = format!("{}/api/v1/query", self.base);
        let mut url =
            reqwest::Url::parse(&endpoint).map_err(|e| format!("bad URL {endpoint}: {e}"))?;
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair("time", &http::unix_seconds(at));
        let reply = http::send_with_retries(&self.policy, || {
            self.auth.apply(self.client.get(url.clone()))
        })
        .await
        .map_err(|e| format!("`{promql}` on {}: {e}", self.base))?;
        parse_vector(&reply.body)
            .map_err(|e| format!("`{promql}` on {}: HTTP {}: {e}", self.base, reply.status))
    }
}

/// The samples of an instant-query answer (a vector; a scalar is one
/// unlabelled sample).
pub fn parse_vector(body: &[u8]) -> Result<Vec<Sample>, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| format!("not a Prometheus API answer: {}", http::snippet(body, "")))?;
    if v.get("status").and_then(|s| s.as_str()) != Some("success") {
        return Err(format!(
            "the server answered {}",
            v.get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("an error")
        ));
    }
    let value = |p: Option<&serde_json::Value>| {
        p.and_then(|x| x.get(1))
            .and_then(|x| x.as_str())
            .and_then(super::parse_value)
            .ok_or_else(|| "a sample value is not a number".to_string())
    };
    match v.pointer("/data/resultType").and_then(|t| t.as_str()) {
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: value(v.pointer("/data/result"))?,
        }]),
        Some("vector") => v
            .pointer("/data/result")
            .and_then(|r| r.as_array())
            .ok_or("the answer has no data.result")?
            .iter()
            .map(|s| {
                let labels = s
                    .get("metric")
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Sample {
                    labels,
                    value: value(s.get("value"))?,
                })
            })
            .collect(),
        other => Err(format!(
            "expected a vector from an instant query, got {}",
            other.unwrap_or("no resultType")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_scalars_and_errors() {
        let v = parse_vector(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a","reason":"OOMKilled"},"value":[1700000000,"1"]}]}}"#).unwrap();
        assert_eq!(v[0].label("reason"), "OOMKilled");
        assert_eq!(v[0].label("missing"), "");
        assert_eq!(v[0].value, 1.0);
        let s = parse_vector(
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#,
        )
        .unwrap();
        assert_eq!(s[0].value, 3.0);
        assert!(parse_vector(br#"{"status":"error","error":"bad"}"#)
            .unwrap_err()
            .contains("bad"));
        assert!(parse_vector(
            br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
        )
        .is_err());
        assert!(parse_vector(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#).is_err());
    }
}
