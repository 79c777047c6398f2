//! medic's branch names: `medic/<incident-id>-<slug>`, made only from an
//! incident id and a title, for any service name (`payments.v2`, `Cron Job`,
//! `..`, unicode, 300 characters): the base branch, or anyone else's
//! branch, cannot even be named, and git always accepts the name.

use super::ForgeError;
use serde::{Deserialize, Serialize};
use std::fmt;

const PREFIX: &str = "medic/";

/// A branch medic created: `medic/<incident-id>-<slug>`. The only kind of
/// branch this module will push.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

impl BranchName {
    /// The branch for an incident, for any incident id and title: the id
    /// keeps its ASCII letters, digits, `-` and `_` (anything else becomes
    /// `-`; a changed id gets a short hash of the original so two ids never
    /// share a branch), at most 64 characters; `title` becomes a slug
    /// (lowercase words joined by `-`, at most 40 characters, `change` when
    /// it has none). Service names like `payments.v2`, `Cron Job` or `..`
    /// always give a name git accepts.
    pub fn new(incident_id: &str, title: &str) -> Result<BranchName, ForgeError> {
        let id = safe_id(incident_id);
        let mut slug = slug(title);
        if slug.is_empty() {
            slug = "change".into();
        }
        BranchName::parse(&format!("{PREFIX}{id}-{slug}"))
    }

    /// Reads back a name made by [`BranchName::new`] (from the journal, a
    /// PR record), checking its shape.
    pub fn parse(name: &str) -> Result<BranchName, ForgeError> {
        let bad = |why| ForgeError::BadBranchName {
            name: name.to_string(),
            why,
        };
        let rest = name
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with medic/"))?;
        let (id, slug) = rest
            .split_once('-')
            .ok_or_else(|| bad("no `-` between incident id and slug"))?;
        let ok = |s: &str, extra: char| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == extra)
        };
        if !ok(id, '_')
            || !ok(slug, '-')
            || slug.starts_with('-')
            || slug.ends_with('-')
            || name.len() > 120
        {
            return Err(bad(
                "it must be medic/<incident-id>-<slug> with letters, digits, `-` and `_`",
            ));
        }
        if slug.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("the slug must be lowercase"));
        }
        if !git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
            return Err(bad("git does not accept it as a branch name"));
        }
        Ok(BranchName(name.to_string()))
    }

    /// The branch name (`medic/inc-42-api-memory-limit`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full ref (`refs/heads/medic/…`).
    pub fn refname(&self) -> String {
        format!("refs/heads/{}", self.0)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BranchName {
    type Error = ForgeError;
    fn try_from(s: String) -> Result<Self, ForgeError> {
        BranchName::parse(&s)
    }
}

impl From<BranchName> for String {
    fn from(b: BranchName) -> String {
        b.0
    }
}

/// `id` as 1–64 lowercase ASCII letters, digits, `-` and `_`, with a hash of the
/// original appended when anything had to change.
pub fn safe_id(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    let mut out = out.trim_end_matches('-').to_string();
    if out == id && !out.is_empty() && out.len() <= 64 {
        return out;
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    out.truncate(55);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        format!("incident-{h:08x}")
    } else {
        format!("{out}-{h:08x}")
    }
}

/// Lowercase words of `text` joined by `-`, at most 40 characters.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        let extra = word.len() + usize::from(!out.is_empty());
        if out.len() + extra > 40 {
            if out.is_empty() {
                out.push_str(&word[..40]);
            }
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_only_from_incident_and_slug() {
        let b = BranchName::new("inc-42", "Raise api's memory limit to 48 GB").unwrap();
        assert_eq!(b.as_str(), "medic/inc-42-raise-api-s-memory-limit-to-48-gb");
        assert_eq!(
            b.refname(),
            "refs/heads/medic/inc-42-raise-api-s-memory-limit-to-48-gb"
        );
        assert_eq!(BranchName::parse(b.as_str()).unwrap(), b);
        let long = BranchName::new("7", &"word ".repeat(30)).unwrap();
        assert!(long.as_str().len() <= "medic/7-".len() + 40);
        for bad in [
            "main",
            "refs/heads/main",
            "medic/",
            "medic/x",
            "medic/inc-",
            "medic/inc-Up",
            "medic/inc-a..b",
            "medic/inc-a b",
            "medic/inc/x-y",
            "feature/inc-x",
            "+medic/inc-x",
        ] {
            assert!(BranchName::parse(bad).is_err(), "{bad} accepted");
        }
        // Hostile ids and titles are made safe, never refused.
        assert!(BranchName::new("../main", "x")
            .unwrap()
            .as_str()
            .starts_with("medic/main-"));
        assert_eq!(
            BranchName::new("inc-1", "!!!").unwrap().as_str(),
            "medic/inc-1-change"
        );
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<BranchName>(&json).unwrap(), b);
        assert!(serde_json::from_str::<BranchName>("\"main\"").is_err());
    }

    /// Service names that once failed at the branch after evidence, plan
    /// and approval were paid for.
    pub(crate) const HOSTILE_NAMES: [&str; 16] = [
        "payments.v2",
        "Cron Job",
        "céleri-ünïcode-服务",
        "..",
        "a..b",
        "x@{1}",
        "api.lock",
        "api/.lock",
        "-leading",
        "trailing-",
        "with\nnewline\u{1b}[31m",
        "~^:?*[\\",
        "",
        "/",
        "refs/heads/main",
        "@",
    ];

    #[test]
    fn every_service_name_gives_a_branch_git_accepts() {
        let long = "x".repeat(300);
        let dotted = "a.".repeat(150);
        let mut names: Vec<String> = HOSTILE_NAMES.iter().map(|s| s.to_string()).collect();
        names.push(long);
        names.push(dotted);
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            let id = format!("20261128-0356-{name}-3f2a");
            let b = BranchName::new(&id, &format!("{name} raise-memory-limit"))
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert!(git2::Reference::is_valid_name(&b.refname()), "{b}");
            assert_eq!(BranchName::parse(b.as_str()).unwrap(), b);
            let ok = std::process::Command::new("git")
                .args(["check-ref-format", &b.refname()])
                .status()
                .expect("git is installed");
            assert!(ok.success(), "git check-ref-format refuses {b}");
            assert!(seen.insert(b.to_string()), "{b} given twice");
        }
        // A safe id is kept as it is.
        assert_eq!(
            BranchName::new("20261128-0356-api-3f2a", "api fix")
                .unwrap()
                .as_str(),
            "medic/20261128-0356-api-3f2a-api-fix"
        );
    }
}
