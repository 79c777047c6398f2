//! Rule expressions: arithmetic over metric names (`memory / memory_limit`).
//!
//! A tiny recursive-descent parser and a vectorised evaluator. Absent
//! samples (NaN) propagate: any absent operand makes the result absent.
//! A limit (`cpu_limit`, `memory_limit`) of 0, below 0 or not finite means
//! "no limit" (cAdvisor exports 0 for an unlimited container) and reads as
//! absent, so `memory / memory_limit` never breaches for an unlimited service.

use crate::model::{Metric, ServiceMetrics};
use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal number.
    Number(f64),
    /// A metric's value.
    Metric(Metric),
    /// Arithmetic on two sub-expressions.
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// Unary minus.
    Neg(Box<Expr>),
}

/// The four arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// Why an expression did not parse, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at column {}", .column + 1)]
pub struct ExprError {
    /// What went wrong.
    pub message: String,
    /// Zero-based byte offset in the expression.
    pub column: usize,
}

impl Expr {
    /// Parse `memory / memory_limit`, `errors / requests * 100`, `(a + b) / 2`.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let mut p = Parser { src, pos: 0 };
        let e = p.sum()?;
        p.skip_ws();
        if p.pos < src.len() {
            return Err(p.err(format!("unexpected `{}`", &src[p.pos..])));
        }
        Ok(e)
    }

    /// The metrics this expression reads, in order of first appearance.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<Metric>) {
        match self {
            Expr::Number(_) => {}
            Expr::Metric(m) => {
                if !out.contains(m) {
                    out.push(*m)
                }
            }
            Expr::Binary(a, _, b) => {
                a.collect(out);
                b.collect(out);
            }
            Expr::Neg(a) => a.collect(out),
        }
    }

    /// Evaluate over every grid point of a service's series; `out` gets one
    /// value per point of the grid (`len` points), NaN where absent.
    ///
    /// Series are assumed to share the grid of the first metric found; a
    /// metric the service lacks makes the whole result absent.
    pub fn eval_into(&self, svc: &ServiceMetrics, len: usize, out: &mut Vec<f64>) {
        self.eval_from(svc, 0, len, out);
    }

    /// [`Expr::eval_into`] for the grid points `from..len` only (`out` gets
    /// `len - from` values): a refresh evaluates only the points it has not
    /// evaluated yet, not the whole window again.
    pub fn eval_from(&self, svc: &ServiceMetrics, from: usize, len: usize, out: &mut Vec<f64>) {
        let from = from.min(len);
        out.clear();
        out.resize(len - from, f64::NAN);
        // The points `from..len` of a series, as many as it has.
        let tail = |s: &'_ crate::model::Series| -> std::ops::Range<usize> {
            let end = s.values.len().min(len);
            from.min(end)..end
        };
        match self {
            Expr::Number(n) => out.iter_mut().for_each(|v| *v = *n),
            Expr::Metric(m) => {
                if let Some(s) = svc.get(*m) {
                    let r = tail(s);
                    out[..r.len()].copy_from_slice(&s.values[r]);
                    if is_a_limit(*m) {
                        out.iter_mut()
                            .filter(|v| !crate::model::is_limit(**v))
                            .for_each(|v| *v = f64::NAN);
                    }
                }
            }
            Expr::Neg(a) => {
                a.eval_from(svc, from, len, out);
                out.iter_mut().for_each(|v| *v = -*v);
            }
            Expr::Binary(a, op, b) => {
                a.eval_from(svc, from, len, out);
                // Fast paths for the common shapes avoid a scratch buffer.
                match &**b {
                    Expr::Number(n) => apply_scalar(out, *op, *n),
                    Expr::Metric(m) if !is_a_limit(*m) => match svc.get(*m) {
                        Some(s) => apply(out, *op, &s.values[tail(s)]),
                        None => out.iter_mut().for_each(|v| *v = f64::NAN),
                    },
                    _ => {
                        let mut rhs = Vec::with_capacity(len - from);
                        b.eval_from(svc, from, len, &mut rhs);
                        apply(out, *op, &rhs);
                    }
                }
            }
        }
    }
}

/// Limits read "0 or not finite" as "no limit" (absent).
fn is_a_limit(m: Metric) -> bool {
    matches!(m, Metric::CpuLimit | Metric::MemoryLimit)
}

fn apply(out: &mut [f64], op: BinOp, rhs: &[f64]) {
    let n = rhs.len().min(out.len());
    let (head, tail) = out.split_at_mut(n);
    match op {
        BinOp::Add => head.iter_mut().zip(rhs).for_each(|(a, b)| *a += b),
        BinOp::Sub => head.iter_mut().zip(rhs).for_each(|(a, b)| *a -= b),
        BinOp::Mul => head.iter_mut().zip(rhs).for_each(|(a, b)| *a *= b),
        BinOp::Div => head.iter_mut().zip(rhs).for_each(|(a, b)| *a /= b),
    }
    tail.iter_mut().for_each(|v| *v = f64::NAN);
}

fn apply_scalar(out: &mut [f64], op: BinOp, n: f64) {
    match op {
        BinOp::Add => out.iter_mut().for_each(|a| *a += n),
        BinOp::Sub => out.iter_mut().for_each(|a| *a -= n),
        BinOp::Mul => out.iter_mut().for_each(|a| *a *= n),
        BinOp::Div => out.iter_mut().for_each(|a| *a /= n),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Metric(m) => write!(f, "{m}"),
            Expr::Neg(a) => write!(f, "-({a})"),
            Expr::Binary(a, op, b) => {
                let o = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                };
                write!(f, "({a} {o} {b})")
            }
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, message: String) -> ExprError {
        ExprError {
            message,
            column: self.pos,
        }
    }

    fn skip_ws(&mut self) {
        while self.src[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.src[self.pos..].chars().next()
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.product()?;
        loop {
            let op = match self.peek() {
                Some('+') => BinOp::Add,
                Some('-') => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.product()?;
            lhs = Expr::Binary(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Some('*') => BinOp::Mul,
                Some('/') => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = Expr::Binary(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.peek() == Some('-') {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let e = self.sum()?;
                if self.peek() != Some(')') {
                    return Err(self.err("expected `)`".into()));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                let rest = &self.src[start..];
                let mut end = 0;
                let bytes = rest.as_bytes();
                while end < bytes.len() {
                    let b = bytes[end];
                    let exp_sign = (b == b'+' || b == b'-')
                        && end > 0
                        && matches!(bytes[end - 1], b'e' | b'E');
                    if b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || exp_sign {
                        end += 1;
                    } else {
                        break;
                    }
                }
                let text = &rest[..end];
                let n: f64 = text
                    .parse()
                    .map_err(|_| self.err(format!("`{text}` is not a number")))?;
                self.pos += end;
                Ok(Expr::Number(n))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos;
                let len = self.src[start..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(self.src.len() - start);
                let name = &self.src[start..start + len];
                let m = Metric::from_name(name).ok_or_else(|| {
                    let known: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
                    self.err(format!(
                        "unknown metric `{name}` (known: {})",
                        known.join(", ")
                    ))
                })?;
                self.pos += len;
                Ok(Expr::Metric(m))
            }
            Some(c) => Err(self.err(format!("unexpected `{c}`"))),
            None => Err(self.err("unexpected end of expression".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Series, ServiceId};

    #[test]
    fn parses_precedence_and_parens() {
        let e = Expr::parse("errors / requests * 100").unwrap();
        assert_eq!(e.to_string(), "((errors / requests) * 100)");
        let e = Expr::parse("memory / (memory_limit - 1e9)").unwrap();
        assert_eq!(e.to_string(), "(memory / (memory_limit - 1000000000))");
        assert_eq!(e.metrics(), vec![Metric::Memory, Metric::MemoryLimit]);
    }

    #[test]
    fn names_the_bad_column() {
        let err = Expr::parse("memory / memroy_limit").unwrap_err();
        assert_eq!(err.column, 9);
        assert!(err.message.contains("memroy_limit"), "{err}");
        assert!(Expr::parse("(cpu").is_err());
        assert!(Expr::parse("cpu cpu").is_err());
        assert!(Expr::parse("").is_err());
    }

    #[test]
    fn evaluating_from_a_point_is_the_tail_of_the_whole() {
        let mut svc = ServiceMetrics::new(ServiceId::from("a"));
        let series = |values: Vec<f64>| Series {
            start: 0,
            step: 1,
            values,
        };
        svc.set(
            Metric::Memory,
            series(vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]),
        );
        svc.set(Metric::MemoryLimit, series(vec![10.0, 0.0, 10.0, 10.0]));
        svc.set(Metric::Errors, series(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0]));
        svc.set(
            Metric::Requests,
            series(vec![2.0, 4.0, 0.0, 8.0, 16.0, 32.0]),
        );
        for text in [
            "memory / memory_limit",
            "errors / requests * 100",
            "-(memory - 1) / (requests + errors)",
            "memory_limit",
            "3",
            "cpu / memory",
        ] {
            let e = Expr::parse(text).unwrap();
            let mut whole = Vec::new();
            e.eval_into(&svc, 6, &mut whole);
            for from in 0..=7 {
                let mut tail = Vec::new();
                e.eval_from(&svc, from, 6, &mut tail);
                let want = &whole[from.min(6)..];
                assert_eq!(tail.len(), want.len(), "{text} from {from}");
                for (a, b) in tail.iter().zip(want) {
                    assert!(
                        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                        "{text} from {from}: {tail:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn absent_propagates() {
        let mut svc = ServiceMetrics::new(ServiceId::from("a"));
        svc.set(
            Metric::Memory,
            Series {
                start: 0,
                step: 1,
                values: vec![1.0, f64::NAN, 3.0],
            },
        );
        svc.set(
            Metric::MemoryLimit,
            Series {
                start: 0,
                step: 1,
                values: vec![2.0, 2.0, f64::NAN],
            },
        );
        let mut out = Vec::new();
        Expr::parse("memory / memory_limit")
            .unwrap()
            .eval_into(&svc, 3, &mut out);
        assert_eq!(out[0], 0.5);
        assert!(out[1].is_nan() && out[2].is_nan());
        Expr::parse("cpu * 2").unwrap().eval_into(&svc, 3, &mut out);
        assert!(out.iter().all(|v| v.is_nan()), "missing metric is absent");
    }

    #[test]
    fn a_limit_of_zero_or_infinity_is_no_limit() {
        let mut svc = ServiceMetrics::new(ServiceId::from("a"));
        let series = |values: Vec<f64>| Series {
            start: 0,
            step: 1,
            values,
        };
        svc.set(Metric::Memory, series(vec![1.0, 1.0, 1.0, 1.0]));
        svc.set(
            Metric::MemoryLimit,
            series(vec![0.0, f64::INFINITY, -1.0, 2.0]),
        );
        let mut out = Vec::new();
        for text in ["memory / memory_limit", "memory / (memory_limit * 1)"] {
            Expr::parse(text).unwrap().eval_into(&svc, 4, &mut out);
            assert!(out[..3].iter().all(|v| v.is_nan()), "{text}: {out:?}");
            assert_eq!(out[3], 0.5, "{text}");
        }
    }
}
