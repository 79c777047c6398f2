//! The maintained rule set: vendor token formats from the `nosecrets-rules`
//! crate (gitleaks-style TOML: a regex, a capture group, keywords, allowed
//! values), compiled once for the `regex` crate. A rule that does not
//! compile or names an unsafe kind is skipped and counted, never fatal: the
//! keyword and entropy checks still stand behind it. Each rule only runs on
//! texts holding one of its keywords (one Aho-Corasick pass finds them all).

use aho_corasick::AhoCorasick;
use regex::Regex;
use std::sync::LazyLock;

/// One compiled rule.
struct Rule {
    /// Its id, used as the marker kind (`gitlab-pat`).
    kind: String,
    re: Regex,
    capture: usize,
    /// Values that match but are known non-secrets (`…EXAMPLE`).
    allow: Vec<Regex>,
}

/// The loaded rules, with the keyword prefilter.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Rules without keywords: they run on every text.
    always: Vec<usize>,
    keywords: AhoCorasick,
    /// For each keyword, the rules it unlocks.
    by_keyword: Vec<Vec<usize>>,
    /// `(rule id, why)` for every rule that was left out.
    pub skipped: Vec<(String, String)>,
}

fn valid_kind(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl RuleSet {
    /// Compiles `rules`, skipping (and recording) those that cannot be used.
    pub fn compile(rules: Vec<nosecrets_rules::Rule>) -> RuleSet {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let mut words: Vec<String> = Vec::new();
        let mut by_keyword: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for r in rules {
            if !valid_kind(&r.id) {
                skipped.push((r.id.clone(), "id is not a safe marker kind".into()));
                continue;
            }
            let re = match regex::RegexBuilder::new(&r.pattern)
                .size_limit(1 << 22)
                .build()
            {
                Ok(re) => re,
                Err(e) => {
                    skipped.push((r.id.clone(), format!("pattern does not compile: {e}")));
                    continue;
                }
            };
            if r.capture > re.captures_len() - 1 {
                skipped.push((r.id.clone(), format!("no capture group {}", r.capture)));
                continue;
            }
            let allow = r
                .allow
                .as_ref()
                .map(|a| {
                    a.patterns
                        .iter()
                        .filter_map(|p| Regex::new(&format!("(?i){p}")).ok())
                        .collect()
                })
                .unwrap_or_default();
            let idx = out.len();
            if r.keywords.is_empty() {
                always.push(idx);
            }
            for k in &r.keywords {
                let k = k.to_ascii_lowercase();
                match words.iter().position(|w| *w == k) {
                    Some(i) => by_keyword[i].push(idx),
                    None => {
                        words.push(k);
                        by_keyword.push(vec![idx]);
                    }
                }
            }
            out.push(Rule {
                kind: r.id,
                re,
                capture: r.capture,
                allow,
            });
        }
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .expect("rule keywords build");
        RuleSet {
            rules: out,
            always,
            keywords,
            by_keyword,
            skipped,
        }
    }

    /// How many rules are in use.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule could be used.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every kind a rule can report.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.kind.as_str())
    }

    /// Runs each rule on the lines holding one of its keywords (rules
    /// without keywords on the whole text): a rule never reads a line that
    /// cannot match it, so a log of a million lines costs one automaton pass
    /// plus the few lines that name a vendor.
    pub fn detect<'a>(&'a self, text: &str, push: &mut dyn FnMut(&'a str, usize, usize)) {
        let mut todo: Vec<(usize, usize, usize)> = Vec::new();
        let mut last_line = (usize::MAX, 0);
        for m in self.keywords.find_overlapping_iter(text) {
            let line = if last_line.0 <= m.start() && m.end() <= last_line.1 {
                last_line
            } else {
                let start = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
                let end = text[m.end()..]
                    .find('\n')
                    .map_or(text.len(), |i| m.end() + i);
                (start, end)
            };
            last_line = line;
            for &i in &self.by_keyword[m.pattern().as_usize()] {
                todo.push((line.0, line.1, i));
            }
        }
        todo.sort_unstable();
        todo.dedup();
        for &i in &self.always {
            todo.push((0, text.len(), i));
        }
        for (start, end, i) in todo {
            let rule = &self.rules[i];
            for c in rule.re.captures_iter(&text[start..end]) {
                let Some(m) = c.get(rule.capture) else {
                    continue;
                };
                if m.is_empty() || rule.allow.iter().any(|a| a.is_match(m.as_str())) {
                    continue;
                }
                push(&rule.kind, start + m.start(), start + m.end());
            }
        }
    }
}

/// The rule set shipped with the `nosecrets-rules` crate, compiled once.
pub static RULES: LazyLock<RuleSet> = LazyLock::new(|| {
    // The crate's own files always parse (its tests check them); an error
    // would leave the keyword and entropy checks standing alone.
    RuleSet::compile(nosecrets_rules::load_builtin_rules().unwrap_or_default())
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_set_loads_and_reports_what_it_skipped() {
        let r = &*RULES;
        println!(
            "rule set: {} rules in use, {} skipped: {:?}",
            r.len(),
            r.skipped.len(),
            r.skipped
        );
        assert!(
            r.len() >= 40,
            "only {} rules loaded: {:?}",
            r.len(),
            r.skipped
        );
        assert!(r.skipped.len() <= 5, "{:?}", r.skipped);
        let mut hits = Vec::new();
        let text = format!("deploy with {}{}", "glpat-", "Ab12Cd34Ef56Gh78Ij90");
        r.detect(&text, &mut |k, s, e| hits.push((k.to_string(), s, e)));
        assert_eq!(hits, [("gitlab-pat".to_string(), 12, text.len())]);
    }

    #[test]
    fn a_broken_rule_is_skipped_not_fatal() {
        let bad: Vec<nosecrets_rules::Rule> = nosecrets_rules::parse_rules(
            "[[rule]]\nid = \"bad\"\nname = \"b\"\nseverity = \"low\"\npattern = '''(?<=x)y'''\n\n[[rule]]\nid = \"Bad Kind]\"\nname = \"b\"\nseverity = \"low\"\npattern = '''(z)'''\n",
            "inline",
        )
        .expect("parses");
        let set = RuleSet::compile(bad);
        assert_eq!(set.len(), 0);
        assert_eq!(set.skipped.len(), 2);
    }
}
