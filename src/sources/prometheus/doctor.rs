//! `medic doctor`: why a Prometheus fleet is empty. Each query medic runs,
//! how many series and services it returned and how many lacked the
//! service label; then each series the preset is built from (cAdvisor,
//! kube-state-metrics, the request counter), how many exist and which of
//! the labels the joins need are missing. It reads; it never judges.

use super::{Grid, Prometheus, QueryResult};
use crate::config::{Ingredient, PresetInputs};
use crate::model::{Metric, Millis};

/// One of medic's queries, as the server answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCheck {
    /// The metric it feeds.
    pub metric: Metric,
    /// The PromQL.
    pub promql: String,
    /// Services with a series.
    pub services: usize,
    /// Series without the service label (skipped by medic).
    pub unlabelled: usize,
    /// Services that came back more than once.
    pub duplicates: usize,
    /// Why the query failed, when it did.
    pub error: Option<String>,
}

/// One series a preset needs, as the server has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct IngredientCheck {
    /// What was looked for.
    pub ingredient: Ingredient,
    /// How many series match (`None`: the query failed).
    pub series: Option<u64>,
    /// Labels some series lack, with how many lack each.
    pub missing: Vec<(String, u64)>,
    /// Why the check failed, when it did.
    pub error: Option<String>,
}

/// Everything `medic doctor` found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnosis {
    /// medic's queries.
    pub queries: Vec<QueryCheck>,
    /// The preset's building blocks.
    pub ingredients: Vec<IngredientCheck>,
}

impl Diagnosis {
    /// Services any query returned (0: the fleet is empty).
    pub fn services(&self) -> usize {
        self.queries.iter().map(|q| q.services).max().unwrap_or(0)
    }
}

impl Prometheus {
    /// Run every query over `(now - lookback, now]` and check the preset's
    /// series at `now`; failures are reported, never returned as errors.
    pub async fn diagnose(
        &self,
        inputs: &PresetInputs<'_>,
        now: Millis,
        lookback: Millis,
        step: Millis,
    ) -> Diagnosis {
        let grid = Grid::window(now, lookback, step);
        let mut out = Diagnosis::default();
        for (metric, promql, _) in &self.queries {
            let check = |r: Result<QueryResult, String>| match r {
                Ok(r) => QueryCheck {
                    metric: *metric,
                    promql: promql.clone(),
                    services: r
                        .series
                        .values()
                        .filter(|s| s.values.iter().any(|v| !v.is_nan()))
                        .count(),
                    unlabelled: r.unlabelled,
                    duplicates: r.duplicates.len(),
                    error: None,
                },
                Err(e) => QueryCheck {
                    metric: *metric,
                    promql: promql.clone(),
                    services: 0,
                    unlabelled: 0,
                    duplicates: 0,
                    error: Some(e),
                },
            };
            let r = self
                .query(*metric, promql, &grid)
                .await
                .map_err(|e| e.to_string());
            out.queries.push(check(r));
        }
        for ing in inputs.ingredients() {
            let mut c = IngredientCheck {
                series: None,
                missing: Vec::new(),
                error: None,
                ingredient: ing,
            };
            match self.count(&c.ingredient.selector(""), now).await {
                Ok(n) => c.series = Some(n),
                Err(e) => c.error = Some(e),
            }
            if c.series.is_some_and(|n| n > 0) {
                for label in &c.ingredient.labels {
                    let sel = c.ingredient.selector(&format!("{label}=\"\""));
                    match self.count(&sel, now).await {
                        Ok(0) => {}
                        Ok(n) => c.missing.push((label.clone(), n)),
                        Err(e) => c.error = Some(e),
                    }
                }
            }
            out.ingredients.push(c);
        }
        out
    }

    /// `count(selector)` at `at` (0 when nothing matches).
    async fn count(&self, selector: &str, at: Millis) -> Result<u64, String> {
        let v = self.instant(&format!("count({selector})"), at).await?;
        Ok(v.first().map_or(0.0, |s| s.value).max(0.0) as u64)
    }
}
