//! What calls cost: a price table, per-call cost and the per-incident
//! budget that stops a run once it is spent.

use super::{LlmError, Usage};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Price of a model in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Dollars per million input (prompt) tokens.
    pub input_per_mtok: f64,
    /// Dollars per million output (completion) tokens.
    pub output_per_mtok: f64,
}

/// List prices at the time of writing, by model-name prefix; longest prefix
/// wins. Approximate: set [`super::LlmConfig::price`] for anything that matters.
const PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
];

/// The built-in price of `model` (an OpenRouter-style `vendor/` prefix is
/// ignored), or `None` for models we know nothing about (local ones).
pub fn price_for(model: &str) -> Option<Price> {
    let name = model.rsplit('/').next().unwrap_or(model);
    PRICES
        .iter()
        .filter(|(prefix, _, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|&(_, i, o)| Price {
            input_per_mtok: i,
            output_per_mtok: o,
        })
}

/// What a call cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// US dollars; 0 when the price is unknown.
    pub usd: f64,
    /// Whether the model had a price (built in or configured).
    pub priced: bool,
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.priced {
            write!(f, "${:.4}", self.usd)
        } else {
            f.write_str("unknown price")
        }
    }
}

/// A token and/or dollar allowance, shared by every call made for one
/// incident. Clones share the same account.
#[derive(Debug, Clone)]
pub struct Budget {
    max_tokens: Option<u64>,
    max_usd: Option<f64>,
    spent: Arc<Mutex<Spent>>,
}

/// What a [`Budget`] has paid for so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Spent {
    /// Calls made.
    pub calls: u32,
    /// Tokens, input plus output.
    pub tokens: u64,
    /// US dollars (priced models only).
    #[serde(with = "crate::model::absent")]
    pub usd: f64,
}

impl Budget {
    /// A budget of at most `max_tokens` tokens and/or `max_usd` dollars.
    pub fn new(max_tokens: Option<u64>, max_usd: Option<f64>) -> Budget {
        Budget {
            max_tokens,
            max_usd,
            spent: Arc::default(),
        }
    }

    /// No limit (usage is still counted).
    pub fn unlimited() -> Budget {
        Budget::new(None, None)
    }

    /// The same budget with `earlier` already charged to it: the incident's
    /// planner and its builtin agent share one budget across processes.
    pub fn already_spent(self, earlier: Spent) -> Budget {
        *self.spent.lock().expect("budget lock") = earlier;
        self
    }

    /// What has been spent so far.
    pub fn spent(&self) -> Spent {
        *self.spent.lock().expect("budget lock")
    }

    /// Refuses a call that would exceed the budget: spent already, or its
    /// prompt (`prompt_tokens`, estimated) would take what is left. Otherwise
    /// returns the output cap for it (never more tokens than are left after
    /// the prompt).
    pub(super) fn admit(&self, max_tokens: u32, prompt_tokens: u64) -> Result<u32, LlmError> {
        let s = self.spent();
        let over_tokens = self
            .max_tokens
            .is_some_and(|m| s.tokens.saturating_add(prompt_tokens) >= m);
        let over_usd = self.max_usd.is_some_and(|m| s.usd >= m);
        if over_tokens || over_usd {
            let limit = match (over_tokens, self.max_tokens, self.max_usd) {
                (true, Some(t), _) => format!("{t} tokens"),
                (_, _, Some(d)) => format!("${d:.2}"),
                _ => unreachable!("a limit was hit"),
            };
            let next = if over_tokens && prompt_tokens > 0 {
                format!(" (the next call's prompt alone is about {prompt_tokens} tokens)")
            } else {
                String::new()
            };
            return Err(LlmError::BudgetExceeded {
                spent: format!(
                    "{} tokens, ${:.4} over {} call(s){next}",
                    s.tokens, s.usd, s.calls
                ),
                limit,
            });
        }
        let left = self
            .max_tokens
            .map_or(u64::MAX, |m| m - s.tokens - prompt_tokens)
            .min(u64::from(u32::MAX)) as u32;
        Ok(max_tokens.min(left).max(1))
    }

    pub(super) fn charge(&self, usage: Usage, cost: Cost) {
        let mut s = self.spent.lock().expect("budget lock");
        s.calls += 1;
        s.tokens += usage.total();
        s.usd += cost.usd;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_by_longest_prefix_and_unknown_is_free() {
        assert_eq!(
            price_for("gpt-4o-mini-2024-07-18").unwrap().input_per_mtok,
            0.15
        );
        assert_eq!(price_for("openai/gpt-4o").unwrap().input_per_mtok, 2.50);
        assert_eq!(price_for("llama3.1:8b"), None);
        let c = Cost {
            usd: 0.0,
            priced: false,
        };
        assert_eq!(c.to_string(), "unknown price");
    }

    #[test]
    fn budget_clamps_then_refuses() {
        let b = Budget::new(Some(100), None);
        assert_eq!(b.admit(1000, 0).unwrap(), 100);
        // A prompt of 40 tokens leaves 60 for the answer.
        assert_eq!(b.admit(1000, 40).unwrap(), 60);
        // One that would take it all is refused before it is sent.
        let e = b.admit(1000, 100).unwrap_err().to_string();
        assert!(
            e.contains("about 100 tokens") && e.contains("limit 100 tokens"),
            "{e}"
        );
        b.charge(
            Usage {
                input_tokens: 60,
                output_tokens: 30,
            },
            Cost {
                usd: 0.0,
                priced: false,
            },
        );
        assert_eq!(b.admit(1000, 0).unwrap(), 10);
        b.charge(
            Usage {
                input_tokens: 10,
                output_tokens: 0,
            },
            Cost {
                usd: 0.0,
                priced: false,
            },
        );
        let e = b.admit(1000, 0).unwrap_err().to_string();
        assert!(e.contains("100 tokens") && e.contains("spent"), "{e}");
    }
}
