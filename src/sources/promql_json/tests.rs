use super::*;
use crate::sources::prometheus as reference;
use proptest::prelude::*;

const GRID: Grid = Grid {
    start: 1_000_000,
    step: 15_000,
    len: 4,
};

fn fast(body: &[u8]) -> Result<QueryResult, String> {
    let mut r = QueryResult::default();
    parse_query_range_into(body, &GRID, "service", &mut r).map(|_| r)
}

fn old(body: &[u8]) -> Result<QueryResult, String> {
    let mut r = QueryResult::default();
    reference::parse_query_range_into(body, &GRID, "service", &mut r).map(|_| r)
}

/// Both parsers give the same answer: the same series (NaN = NaN, bit for
/// bit otherwise), counts and warnings, or both refuse the body.
fn agree(body: &[u8]) -> Result<(), String> {
    match (fast(body), old(body)) {
        (Ok(a), Ok(b)) => {
            let same_values =
                a.series.len() == b.series.len()
                    && a.series.iter().zip(&b.series).all(|((ka, sa), (kb, sb))| {
                        ka == kb
                            && sa.start == sb.start
                            && sa.step == sb.step
                            && sa.values.len() == sb.values.len()
                            && sa.values.iter().zip(&sb.values).all(|(x, y)| {
                                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                            })
                    });
            if !same_values
                || a.unlabelled != b.unlabelled
                || a.duplicates != b.duplicates
                || a.server_warnings != b.server_warnings
            {
                return Err(format!("different answers:\n{a:?}\n{b:?}"));
            }
            Ok(())
        }
        (Err(_), Err(_)) => Ok(()),
        (a, b) => Err(format!(
            "one parser refused, the other not: fast {:?}, reference {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        )),
    }
}

#[test]
fn nan_inf_and_gaps_land_on_the_grid() {
    let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"service":"api","job":"x"},"values":[[1000,"1.5"],[1015,"NaN"],[1045,"+Inf"]]},
        {"metric":{"service":"web"},"values":[[1030,"-Inf"]]},
        {"metric":{"job":"orphan"},"values":[[1000,"1"]]}]}}"#;
    let r = fast(body.as_bytes()).unwrap();
    let api = &r.series["api"].values;
    assert_eq!(api[0], 1.5);
    assert!(api[1].is_nan() && api[2].is_nan());
    assert_eq!(api[3], f64::INFINITY);
    assert_eq!(r.series["web"].values[2], f64::NEG_INFINITY);
    assert_eq!(r.unlabelled, 1);
    agree(body.as_bytes()).unwrap();
}

#[test]
fn values_before_metric_and_escaped_labels_are_placed() {
    let body = r#"{"data":{"result":[
        {"values":[[1000,"1"],[1015,"2"]],"metric":{"service":"a\"b","x":"\u00e9"}},
        {"values":[[1000,"3"]],"metric":{"service":"a\"b"}}],"resultType":"matrix"},"status":"success","warnings":["w"]}"#;
    let r = fast(body.as_bytes()).unwrap();
    assert_eq!(r.series["a\"b"].values[..2], [1.0, 2.0]);
    assert_eq!(r.duplicates, ["a\"b"]);
    assert_eq!(r.server_warnings, ["w"]);
    agree(body.as_bytes()).unwrap();
}

#[test]
fn chunks_of_one_range_fill_one_series() {
    let mut r = QueryResult::default();
    for body in [
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"1"]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1045,"4"]]}]}}"#,
    ] {
        parse_query_range_into(body.as_bytes(), &GRID, "service", &mut r).unwrap();
    }
    assert_eq!(r.series["a"].values[0], 1.0);
    assert_eq!(r.series["a"].values[3], 4.0);
    assert!(r.duplicates.is_empty());
}

#[test]
fn bad_bodies_are_errors_in_the_reference_words() {
    let cases = [
        r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        "<html><body>502 Bad Gateway</body></html>",
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"1"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"abc"]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[["1000",1]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1000,"1"]}]}}"#,
        r#"{"status":"success","data":null}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[]}]}}"#,
        r#"{"status":"success","status":"success","data":{"resultType":"matrix","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":1},"values":[]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"1",3]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1e400,"1"]]}]}}"#,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}} x"#,
        "",
    ];
    for body in cases {
        let (f, o) = (fast(body.as_bytes()), old(body.as_bytes()));
        let (Err(f), Err(o)) = (&f, &o) else {
            panic!("{body}: fast {:?} reference {:?}", f.is_ok(), o.is_ok());
        };
        assert_eq!(f, o, "{body}");
    }
    let e = fast(br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[["1000",1]]}]}}"#).unwrap_err();
    assert!(e.contains("data.result[0].values[0]"), "{e}");
    let e = fast(br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[1000,"abc"]]}]}}"#).unwrap_err();
    assert!(e.contains("`abc`") && e.contains("service=\"a\""), "{e}");
}

/// A sample value as Prometheus writes it, or something hostile in its place.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-1e12f64..1e12).prop_map(|v| format!("\"{v}\"")),
        1 => Just("\"NaN\"".to_string()),
        1 => Just("\"+Inf\"".to_string()),
        1 => Just("\"-Inf\"".to_string()),
        1 => Just("\"Inf\"".to_string()),
        1 => Just("\"1e308\"".to_string()),
        1 => Just("\"1e999\"".to_string()),
        1 => Just("\"inf\"".to_string()),
        1 => Just("\"\"".to_string()),
        1 => Just("1.5".to_string()),
        1 => Just("null".to_string()),
        1 => Just("\"1\\u0030\"".to_string()),
        1 => any::<f64>().prop_map(|v| format!("\"{v:e}\"")),
    ]
}

/// A timestamp: on the grid, off it, out of range, or of the wrong type.
fn timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0usize..GRID.len).prop_map(|i| format!("{}", (GRID.start + i as Millis * GRID.step) as f64 / 1000.0)),
        1 => (-1e15f64..1e15).prop_map(|t| format!("{t}")),
        1 => Just("1e400".to_string()),
        1 => Just("\"1000\"".to_string()),
        1 => Just("-9223372036854775808".to_string()),
        1 => Just("1000.0075".to_string()),
    ]
}

fn labels() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u8..4).prop_map(|k| format!(r#"{{"service":"s{k}","job":"j"}}"#)),
        1 => Just(r#"{"job":"j"}"#.to_string()),
        1 => Just(r#"{"service":1}"#.to_string()),
        1 => Just(r#"{"service":"s1","service":"s2"}"#.to_string()),
        1 => Just(r#"{"service":"s\u0031"}"#.to_string()),
        1 => Just("null".to_string()),
    ]
}

/// A body: series with hostile values and labels, fields in either order,
/// sometimes a third element, a non-matrix type or a server error.
fn body() -> impl Strategy<Value = String> {
    let point = (timestamp(), value(), 0u8..20).prop_map(|(t, v, odd)| match odd {
        0 => format!("[{t},{v},1]"),
        1 => format!("[{t}]"),
        _ => format!("[{t},{v}]"),
    });
    let series = (
        labels(),
        prop::collection::vec(point, 0..6),
        any::<bool>(),
        0u8..12,
    )
        .prop_map(|(metric, points, flip, odd)| {
            let values = format!("[{}]", points.join(","));
            match (odd, flip) {
                (0, _) => format!(r#"{{"values":{values}}}"#),
                (1, _) => format!(r#"{{"metric":{metric},"values":{values},"values":[]}}"#),
                (_, true) => format!(r#"{{"values":{values},"metric":{metric},"extra":[1,{{}}]}}"#),
                (_, false) => format!(r#"{{"metric":{metric},"values":{values}}}"#),
            }
        });
    (
        prop::collection::vec(series, 0..5),
        prop_oneof![8 => Just("matrix"), 1 => Just("vector"), 1 => Just("scalar")],
        prop_oneof![8 => Just("success"), 1 => Just("error")],
        any::<bool>(),
    )
        .prop_map(|(series, kind, status, type_last)| {
            let result = format!("[{}]", series.join(","));
            let data = if type_last {
                format!(r#"{{"result":{result},"resultType":"{kind}"}}"#)
            } else {
                format!(r#"{{"resultType":"{kind}","result":{result}}}"#)
            };
            format!(r#"{{"status":"{status}","data":{data},"warnings":["slow"]}}"#)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_the_reference_on_hostile_bodies(text in body()) {
        prop_assert!(agree(text.as_bytes()).is_ok(), "{}\n{:?}", text, agree(text.as_bytes()));
    }

    #[test]
    fn agrees_on_truncated_bodies(text in body(), cut in 0.0f64..1.0) {
        let at = ((text.len() - 1) as f64 * cut) as usize;
        let cut = &text.as_bytes()[..at];
        prop_assert!(fast(cut).is_err());
        prop_assert!(agree(cut).is_ok(), "{:?}", agree(cut));
    }

    #[test]
    fn agrees_on_corrupted_bodies(text in body(), at in 0.0f64..1.0, byte in any::<u8>()) {
        let mut bytes = text.into_bytes();
        let i = ((bytes.len() - 1) as f64 * at) as usize;
        bytes[i] = byte;
        prop_assert!(agree(&bytes).is_ok(), "{}\n{:?}", String::from_utf8_lossy(&bytes), agree(&bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert!(agree(&bytes).is_ok());
    }
}
