//! The `query_range` answer parsed straight onto medic's grid: serde
//! visitors place each sample as it is read, borrowing label and value
//! strings from the body, so there is no allocation per sample and no
//! intermediate list of series (the old parser, kept in `prometheus.rs` as
//! the reference, allocated one `String` per sample value).
//!
//! It accepts exactly what the reference accepts; on any error the reference
//! is asked for its words (what and where, with the JSON path), so errors
//! read the same whichever parser ran. The body itself is read under the
//! `[http] max_body_bytes` cap by `sources/http.rs`.

use super::prometheus::{parse_value, Grid, QueryResult};
use crate::model::{Millis, Series};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// Parse one `query_range` response body and place its samples on `grid`,
/// adding to `into` (so several chunks of one range fill one series).
///
/// Absent instants stay NaN, `NaN` values are absent, ±Inf are kept.
/// Errors say what was wrong in words (the caller adds query and server).
pub fn parse_query_range_into(
    body: &[u8],
    grid: &Grid,
    service_label: &str,
    into: &mut QueryResult,
) -> Result<(), String> {
    let mut place = Placing {
        grid,
        label: service_label,
        into,
        seen: HashSet::new(),
        problem: None,
        pending: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = EnvelopeSeed(&mut place)
        .deserialize(&mut de)
        .and_then(|head| de.end().map(|_| head));
    let head = match parsed {
        Ok(head) => head,
        // The reference parser says what and where (it re-reads the body once).
        Err(fast) => return Err(reference_error(body, grid, service_label, fast)),
    };
    if head.status != "success" {
        return Err(match (head.error_type, head.error) {
            (Some(t), Some(e)) => format!("the server answered {t}: {e}"),
            (_, Some(e)) => format!("the server answered an error: {e}"),
            _ => format!(
                "the server answered status `{}` without an error",
                head.status
            ),
        });
    }
    place.into.server_warnings.extend(head.warnings);
    let Some(result_type) = head.result_type else {
        return Err("the answer has status success but no `data`".to_string());
    };
    if result_type != "matrix" {
        return Err(format!(
            "expected a matrix from query_range, got a {result_type}"
        ));
    }
    match place.problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// [`parse_query_range_into`] on the blocking pool: parsing a 100 MB answer
/// is CPU work that must not hold an async worker (the other queries'
/// answers are being read meanwhile). Hands `into` back with the outcome.
pub async fn parse_off_runtime(
    body: Vec<u8>,
    grid: Grid,
    service_label: String,
    mut into: QueryResult,
) -> (QueryResult, Result<(), String>) {
    let parsed = tokio::task::spawn_blocking(move || {
        let outcome = parse_query_range_into(&body, &grid, &service_label, &mut into);
        (into, outcome)
    })
    .await;
    match parsed {
        Ok(done) => done,
        Err(e) => (
            QueryResult::default(),
            Err(format!(
                "the parser stopped before the end of the answer: {e}"
            )),
        ),
    }
}

/// The reference parser's words for a body this parser refused.
fn reference_error(body: &[u8], grid: &Grid, label: &str, fast: serde_json::Error) -> String {
    let mut scratch = QueryResult::default();
    match super::prometheus::parse_query_range_into(body, grid, label, &mut scratch) {
        Err(words) => words,
        // Never expected (the property tests hold both to the same answers).
        Ok(()) => format!("not a Prometheus API answer: {fast}"),
    }
}

/// Where samples go while the body is read.
struct Placing<'a, 'de> {
    grid: &'a Grid,
    label: &'a str,
    into: &'a mut QueryResult,
    /// Services already placed from this body (a second series is a duplicate).
    seen: HashSet<Cow<'de, str>>,
    /// The first sample that is not a number (reported once the shape is known good).
    problem: Option<String>,
    /// Samples of a series whose `values` came before its `metric`.
    pending: Vec<(f64, Cow<'de, str>)>,
}

/// The envelope's small fields; the samples are already placed.
struct Head {
    status: String,
    /// `None`: no `data` (or `data: null`).
    result_type: Option<String>,
    error_type: Option<String>,
    error: Option<String>,
    warnings: Vec<String>,
}

/// A string, borrowed from the body when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Refuse a key seen twice, as serde's derive does.
fn once<E: de::Error>(seen: &mut bool, name: &'static str) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

struct EnvelopeSeed<'p, 'a, 'de>(&'p mut Placing<'a, 'de>);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, '_, 'de> {
    type Value = Head;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, '_, 'de> {
    type Value = Head;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Prometheus API answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let mut status = None;
        let mut result_type = None;
        let (mut data, mut et, mut er, mut wa) = (false, false, false, false);
        let mut head = Head {
            status: String::new(),
            result_type: None,
            error_type: None,
            error: None,
            warnings: Vec::new(),
        };
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "status" => {
                    if status.is_some() {
                        return Err(de::Error::duplicate_field("status"));
                    }
                    status = Some(map.next_value_seed(Text)?.into_owned());
                }
                "data" => {
                    once(&mut data, "data")?;
                    result_type = map.next_value_seed(OptionalData(&mut *self.0))?;
                }
                "errorType" => {
                    once(&mut et, "errorType")?;
                    head.error_type = map.next_value()?;
                }
                "error" => {
                    once(&mut er, "error")?;
                    head.error = map.next_value()?;
                }
                "warnings" => {
                    once(&mut wa, "warnings")?;
                    head.warnings = map.next_value()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        head.status = status.ok_or_else(|| de::Error::missing_field("status"))?;
        head.result_type = result_type;
        Ok(head)
    }
}

/// `data`, which may be `null`: its result type once read (`None` for null).
struct OptionalData<'p, 'a, 'de>(&'p mut Placing<'a, 'de>);

impl<'de> DeserializeSeed<'de> for OptionalData<'_, '_, 'de> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalData<'_, '_, 'de> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the answer's data")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(DataVisitor(self.0)).map(Some)
    }
}

struct DataVisitor<'p, 'a, 'de>(&'p mut Placing<'a, 'de>);

impl<'de> Visitor<'de> for DataVisitor<'_, '_, 'de> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Data")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let mut result_type: Option<String> = None;
        let mut result = false;
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "resultType" => {
                    if result_type.is_some() {
                        return Err(de::Error::duplicate_field("resultType"));
                    }
                    result_type = Some(map.next_value_seed(Text)?.into_owned());
                }
                "result" => {
                    once(&mut result, "result")?;
                    match result_type.as_deref() {
                        // Not a matrix: an error whatever it holds (said by the caller).
                        Some(t) if t != "matrix" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => map.next_value_seed(Results(&mut *self.0))?,
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !result {
            return Err(de::Error::missing_field("result"));
        }
        result_type.ok_or_else(|| de::Error::missing_field("resultType"))
    }
}

/// `data.result`: the series, each placed as it is read.
struct Results<'p, 'a, 'de>(&'p mut Placing<'a, 'de>);

impl<'de> DeserializeSeed<'de> for Results<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Results<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence of series")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(OneSeries(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct OneSeries<'p, 'a, 'de>(&'p mut Placing<'a, 'de>);

impl<'de> DeserializeSeed<'de> for OneSeries<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// What to do with a series' samples.
enum Target<'de> {
    /// Its `metric` is not read yet: keep the samples in `pending`.
    Unknown,
    /// Unlabelled or a duplicate: check their shape only.
    Skip,
    /// Place them on this service's series.
    Place(Cow<'de, str>),
}

impl<'de> Placing<'_, 'de> {
    /// Decide where a series goes once its service label is known
    /// (`None`: it has none), counting unlabelled and duplicate series.
    fn target(&mut self, name: Option<Cow<'de, str>>) -> Target<'de> {
        let Some(name) = name else {
            self.into.unlabelled += 1;
            return Target::Skip;
        };
        // A second series for one service in one answer: keep the first.
        if self.seen.contains(&name) {
            if !self.into.duplicates.iter().any(|d| *d == name) {
                self.into.duplicates.push(name.to_string());
            }
            return Target::Skip;
        }
        self.seen.insert(name.clone());
        if !self.into.series.contains_key(name.as_ref()) {
            let g = self.grid;
            self.into
                .series
                .insert(name.to_string(), Series::absent(g.start, g.step, g.len));
        }
        Target::Place(name)
    }

    /// One sample of service `name`: on its series' grid, or the first problem noted.
    fn place(&mut self, name: &str, ts: f64, v: &str) {
        let series = self.into.series.get_mut(name);
        put(series, &mut self.problem, self.label, name, ts, v);
    }
}

/// Put one sample on `series` (found once per series, not once per sample),
/// or note the first value that is not a number.
#[inline]
fn put(
    series: Option<&mut Series>,
    problem: &mut Option<String>,
    label: &str,
    name: &str,
    ts: f64,
    v: &str,
) {
    if problem.is_some() {
        return;
    }
    let Some(value) = parse_value(v) else {
        *problem = Some(format!(
            "series {{{label}=\"{name}\"}} has `{v}` at {ts} where a number belongs"
        ));
        return;
    };
    if !ts.is_finite() {
        *problem = Some(format!(
            "series {{{label}=\"{name}\"}} has a timestamp that is not a number"
        ));
        return;
    }
    let Some(series) = series else {
        return;
    };
    let t = (ts * 1000.0).round() as Millis;
    let grid = Grid {
        start: series.start,
        step: series.step,
        len: series.values.len(),
    };
    if let Some(i) = grid.index(t) {
        series.values[i] = value;
    }
}

impl<'de> Visitor<'de> for OneSeries<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct MatrixSeries")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let place = self.0;
        let mut target = Target::Unknown;
        let (mut metric, mut values) = (false, false);
        place.pending.clear();
        while let Some(key) = map.next_key_seed(Text)? {
            match key.as_ref() {
                "metric" => {
                    once(&mut metric, "metric")?;
                    let name = map.next_value_seed(Labels(place.label))?;
                    target = place.target(name);
                    if let Target::Place(name) = &target {
                        for (ts, v) in std::mem::take(&mut place.pending) {
                            place.place(name, ts, &v);
                        }
                    }
                }
                "values" => {
                    once(&mut values, "values")?;
                    map.next_value_seed(Samples {
                        place: &mut *place,
                        target: &target,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !metric {
            return Err(de::Error::missing_field("metric"));
        }
        Ok(())
    }
}

/// `metric`: every label must be a string; the value of the service label.
struct Labels<'l>(&'l str);

impl<'de> DeserializeSeed<'de> for Labels<'_> {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Labels<'_> {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key_seed(Text)? {
            let value = map.next_value_seed(Text)?;
            // A label given twice: the last wins, as in a map.
            if key == self.0 {
                found = Some(value);
            }
        }
        Ok(found)
    }
}

/// `values`: `[[ts, "v"], …]`, each sample placed as it is read.
struct Samples<'p, 't, 'a, 'de> {
    place: &'p mut Placing<'a, 'de>,
    target: &'t Target<'de>,
}

impl<'de> DeserializeSeed<'de> for Samples<'_, '_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Samples<'_, '_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.target {
            Target::Skip => while seq.next_element_seed(Sample)?.is_some() {},
            Target::Unknown => {
                while let Some(sample) = seq.next_element_seed(Sample)? {
                    self.place.pending.push(sample);
                }
            }
            Target::Place(name) => {
                let Placing {
                    into,
                    problem,
                    label,
                    ..
                } = &mut *self.place;
                let mut series = into.series.get_mut(name.as_ref());
                while let Some((ts, v)) = seq.next_element_seed(Sample)? {
                    put(series.as_deref_mut(), problem, label, name, ts, &v);
                }
            }
        }
        Ok(())
    }
}

/// One `[ts, "v"]`.
struct Sample;

impl<'de> DeserializeSeed<'de> for Sample {
    type Value = (f64, Cow<'de, str>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for Sample {
    type Value = (f64, Cow<'de, str>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tuple of size 2")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ts: f64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let v = seq
            .next_element_seed(Text)?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok((ts, v))
    }
}

#[cfg(test)]
mod tests;
