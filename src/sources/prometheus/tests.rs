//! The parser against hand-written and generated `query_range` bodies.

use super::*;

fn grid() -> Grid {
    Grid {
        start: 1_000_000,
        step: 15_000,
        len: 4,
    }
}

fn parse(body: &str) -> Result<QueryResult, String> {
    let mut r = QueryResult::default();
    parse_query_range_into(body.as_bytes(), &grid(), "service", &mut r).map(|_| r)
}

#[test]
fn grids_align_like_the_demo() {
    let g = Grid::window(1_000_007, 60_000, 15_000);
    assert_eq!(g.len, 4);
    assert_eq!(g.end(), 990_000);
    assert_eq!(g.start, 945_000);
    let r = Grid::range(1_000_007, 1_060_000, 15_000);
    assert_eq!((r.start, r.len), (990_000, 5));
    let chunks: Vec<_> = Grid {
        start: 0,
        step: 1,
        len: 25,
    }
    .chunks(10)
    .collect();
    assert_eq!(
        chunks.iter().map(|c| c.len).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert_eq!(chunks[2].start, 20);
}

#[test]
fn nan_inf_and_gaps_land_on_the_grid() {
    let r = parse(
        r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"service":"api","job":"x"},"values":[[1000,"1.5"],[1015,"NaN"],[1045,"+Inf"]]},
        {"metric":{"service":"web"},"values":[[1030,"-Inf"]]},
        {"metric":{"job":"orphan"},"values":[[1000,"1"]]}]}}"#,
    )
    .unwrap();
    let api = &r.series["api"].values;
    assert_eq!(api[0], 1.5);
    assert!(api[1].is_nan() && api[2].is_nan());
    assert_eq!(api[3], f64::INFINITY);
    assert_eq!(r.series["web"].values[2], f64::NEG_INFINITY);
    assert_eq!(r.unlabelled, 1);
}

#[test]
fn duplicate_services_keep_the_first() {
    let r = parse(
        r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"service":"api","pod":"a"},"values":[[1000,"1"]]},
        {"metric":{"service":"api","pod":"b"},"values":[[1000,"2"]]}]}}"#,
    )
    .unwrap();
    assert_eq!(r.series["api"].values[0], 1.0);
    assert_eq!(r.duplicates, ["api"]);
}

#[test]
fn bad_bodies_are_errors_in_words() {
    let e = parse(r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#)
        .unwrap_err();
    assert_eq!(e, "the server answered bad_data: parse error at char 5");
    let e = parse("<html><body>502 Bad Gateway</body></html>").unwrap_err();
    assert!(
        e.starts_with("not a Prometheus API answer: body `<html>"),
        "{e}"
    );
    let e = parse(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"1"#).unwrap_err();
    assert!(e.contains("ends early"), "{e}");
    let e = parse(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"abc"]]}]}}"#).unwrap_err();
    assert!(e.contains("`abc`") && e.contains("service=\"a\""), "{e}");
    let e = parse(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[["1000",1]]}]}}"#).unwrap_err();
    assert!(e.contains("data.result[0].values[0]"), "{e}");
    let e = parse(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1000,"1"]}]}}"#).unwrap_err();
    assert!(e.contains("got a vector"), "{e}");
    assert!(parse("").unwrap_err().contains("ends early"));
}

#[test]
fn values_parse_like_prometheus_writes_them() {
    assert_eq!(parse_value("1e3"), Some(1000.0));
    assert_eq!(parse_value("-0.5"), Some(-0.5));
    assert!(parse_value("NaN").unwrap().is_nan());
    assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
    assert_eq!(parse_value("inf"), None);
    assert_eq!(parse_value(""), None);
    assert_eq!(parse_value("1,5"), None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const GRID: Grid = Grid {
        start: 1_700_000_000_000,
        step: 15_000,
        len: 20,
    };

    fn sample() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            3 => (-1e12f64..1e12).prop_map(Some),
            1 => Just(Some(f64::NAN)),
            1 => Just(Some(f64::INFINITY)),
            1 => Just(Some(f64::NEG_INFINITY)),
            2 => Just(None),
        ]
    }

    fn write_value(v: f64) -> String {
        if v.is_nan() {
            "NaN".into()
        } else if v == f64::INFINITY {
            "+Inf".into()
        } else if v == f64::NEG_INFINITY {
            "-Inf".into()
        } else {
            format!("{v}")
        }
    }

    /// A well-formed body: series with or without the label, random gaps.
    /// Series as generated: (has the service label, value per grid instant or absent).
    type Generated = Vec<(bool, Vec<Option<f64>>)>;

    fn body() -> impl Strategy<Value = (String, Generated)> {
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(sample(), GRID.len)),
            0..6,
        )
        .prop_map(|series| {
            let mut out =
                String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
            for (k, (labelled, values)) in series.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let metric = if *labelled {
                    format!(r#"{{"service":"s{k}","job":"j"}}"#)
                } else {
                    r#"{"job":"j"}"#.to_string()
                };
                let points: Vec<String> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.map(|v| {
                            let ts = (GRID.start + i as Millis * GRID.step) as f64 / 1000.0;
                            format!(r#"[{ts},"{}"]"#, write_value(v))
                        })
                    })
                    .collect();
                out.push_str(&format!(
                    r#"{{"metric":{metric},"values":[{}]}}"#,
                    points.join(",")
                ));
            }
            out.push_str("]}}");
            (out, series)
        })
    }

    fn parse(bytes: &[u8]) -> Result<QueryResult, String> {
        let mut r = QueryResult::default();
        parse_query_range_into(bytes, &GRID, "service", &mut r).map(|_| r)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn well_formed_answers_land_exactly_on_the_grid((text, series) in body()) {
            let r = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(r.unlabelled, series.iter().filter(|(l, _)| !l).count());
            for (k, (labelled, values)) in series.iter().enumerate() {
                if !labelled {
                    continue;
                }
                let got = &r.series[&format!("s{k}")].values;
                for (g, want) in got.iter().zip(values) {
                    match want {
                        Some(w) if w.is_nan() => prop_assert!(g.is_nan()),
                        Some(w) => prop_assert_eq!(g, w),
                        None => prop_assert!(g.is_nan(), "absent is NaN"),
                    }
                }
            }
        }

        #[test]
        fn truncated_answers_are_errors((text, _) in body(), cut in 0.0f64..1.0) {
            let at = ((text.len() - 1) as f64 * cut) as usize;
            prop_assert!(parse(&text.as_bytes()[..at]).is_err());
        }

        #[test]
        fn corrupted_answers_never_panic((text, _) in body(), at in 0.0f64..1.0, byte in any::<u8>()) {
            let mut bytes = text.into_bytes();
            let i = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[i] = byte;
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_json_shapes_never_panic(
            ts in prop_oneof![any::<f64>().prop_map(|f| format!("{f:e}")), Just("\"1\"".to_string()), Just("null".to_string())],
            v in prop_oneof![any::<f64>().prop_map(|f| format!("\"{f}\"")), Just("1".to_string()), Just("\"twelve\"".to_string())],
            label in prop_oneof![Just("\"a\"".to_string()), Just("1".to_string()), Just("null".to_string())],
        ) {
            let body = format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"service":{label}}},"values":[[{ts},{v}]]}}]}}}}"#);
            let _ = parse(body.as_bytes());
        }
    }
}
