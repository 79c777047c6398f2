//! Pre-flight: before a run starts (`medic fix`, the TUI's `p` and `a`),
//! check everything it will need — the LLM key, the agent and its binary,
//! the forge token, the sandbox — so a missing one is one clear line up
//! front, not a failure after the plan was made or the operator approved.
//!
//! It reads the environment and PATH only: no network, no files written.
//! Each check builds what the run itself builds (the LLM client, the GitHub
//! forge) where that is free of I/O, so the two cannot disagree.

use crate::config::{Config, SandboxMode};
use crate::workflow::parts::Parts;

/// The external agents medic drives, their default command, and the npm
/// package (at the version medic is tested with) that installs them.
pub const AGENT_PACKAGES: &[(&str, &str, &str)] = &[
    ("opencode", "opencode", "opencode-ai@1.18.33"),
    ("claude", "claude", "@anthropic-ai/claude-code@2.1.332"),
    ("codex", "codex", "@openai/codex@0.171.0"),
];

/// What a run would miss, each problem in words the operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot start: {}", .problems.join("; "))]
pub struct Refusal {
    /// One sentence per missing thing: what, where (the config key), what to do.
    pub problems: Vec<String>,
}

/// Checks the parts an incident runs with (its journaled settings).
pub fn check_parts(parts: &Parts) -> Result<(), Refusal> {
    check(&parts.settings)
}

/// Checks everything a run on `settings` will need; every problem found,
/// not only the first, in one [`Refusal`].
pub fn check(settings: &Config) -> Result<(), Refusal> {
    let problems: Vec<String> = [
        llm(settings),
        agent(settings),
        forge(settings),
        sandbox(settings),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal { problems })
    }
}

/// `[llm]`: the key its env var names is there, and a client can be built.
fn llm(settings: &Config) -> Option<String> {
    let llm = &settings.llm;
    if llm.provider == "none" {
        return None;
    }
    if let Some(var) = &llm.api_key_env {
        let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
        if !set {
            return Some(format!(
                "the LLM API key is missing: llm.api_key_env names `{var}`, which is not set (export {var}=<your {} key>, or set [llm] provider = \"none\" for the offline planner)",
                llm.provider
            ));
        }
    }
    // The same constructor the plan step uses (no request is made).
    let factory = crate::workflow::parts::LlmFactory::new(llm.clone());
    factory
        .client(Default::default())
        .err()
        .map(|e| format!("[llm] cannot be used: {e:#}"))
}

/// `[agent]`: a kind medic drives, `builtin` with an `[llm]`, an external
/// agent's binary found (and how to install it when it is not).
fn agent(settings: &Config) -> Option<String> {
    let agent = &settings.agent;
    match agent.kind.as_str() {
        "mitigate" => None,
        "builtin" => (settings.llm.provider == "none").then(|| {
            "agent.kind = \"builtin\" runs medic's own tool loop on the [llm] model, but llm.provider is \"none\": set [llm] provider, model and api_key_env, or choose another agent (mitigate, opencode, claude, codex)".to_string()
        }),
        kind => {
            let Some((_, default, package)) = AGENT_PACKAGES.iter().find(|(k, _, _)| *k == kind)
            else {
                return Some(format!(
                    "agent.kind = \"{kind}\" is not an agent medic drives: use \"mitigate\", \"builtin\", \"opencode\", \"claude\" or \"codex\""
                ));
            };
            let command = agent.command.as_deref().unwrap_or(default);
            (!crate::agent::jail::exists(command)).then(|| {
                format!(
                    "the {kind} agent's binary `{command}` is not {}: install it with `npm install -g {package}`{}",
                    if command.contains('/') { "an executable file" } else { "on PATH" },
                    if agent.command.is_some() {
                        ", or fix [agent] command"
                    } else {
                        ", or set [agent] command to its path"
                    }
                )
            })
        }
    }
}

/// `[forge]`: GitHub's repo and token, checked as the forge is built.
fn forge(settings: &Config) -> Option<String> {
    match settings.forge.kind.as_str() {
        "local" => None,
        "github" => crate::forge::github::GithubForge::from_config(&settings.forge)
            .err()
            .map(|e| format!("the GitHub forge cannot be used: {e}")),
        other => Some(format!(
            "forge.kind = \"{other}\" is not a forge: use \"local\" or \"github\""
        )),
    }
}

/// The sandbox: bubblewrap on PATH for every agent that runs a process,
/// unless the operator turned it off (`[agent] sandbox = "none"`).
fn sandbox(settings: &Config) -> Option<String> {
    let agent = &settings.agent;
    let runs_processes = agent.kind != "mitigate";
    (runs_processes && agent.sandbox == SandboxMode::Bwrap && !crate::agent::jail::exists("bwrap"))
        .then(|| crate::agent::jail::JailError::NoBubblewrap.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::parse(toml, std::path::Path::new("test.toml")).unwrap()
    }

    #[test]
    fn the_demo_defaults_need_nothing() {
        assert_eq!(check(&Config::default()), Ok(()));
    }

    #[test]
    fn every_problem_is_named_in_one_refusal() {
        let c = config(
            "[llm]\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"MEDIC_PREFLIGHT_UNIT_NO_KEY\"\n\
             [agent]\nkind = \"codex\"\ncommand = \"/nonexistent/codex\"\n",
        );
        let e = check(&c).unwrap_err();
        assert_eq!(
            e.problems.len(),
            2 + usize::from(!crate::agent::jail::exists("bwrap"))
        );
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("MEDIC_PREFLIGHT_UNIT_NO_KEY"), "{text}");
        assert!(
            text.contains("npm install -g @openai/codex@0.171.0"),
            "{text}"
        );
    }

    #[test]
    fn builtin_without_llm_is_refused() {
        let e = check(&config("[agent]\nkind = \"builtin\"\nsandbox = \"none\"\n")).unwrap_err();
        assert!(e.problems[0].contains("llm.provider is \"none\""), "{e}");
    }
}
