//! Pre-flight: before a run starts (`medic fix`, the TUI's `p` and `a`),
//! check everything it will need — the LLM key, the agent and its binary,
//! the forge token, the sandbox — so a missing one is one clear line up
//! front, not a failure after the plan was made or the operator approved.
//!
//! It reads the environment and PATH only: no network, no files written.
//! Each check builds what the run itself builds (the LLM client, the GitHub
//! forge) where that is free of I/O, so the two cannot disagree.

use crate::config::{Config, SandboxMode};
use crate::workflow::engine::{StepRecord, StepStatus};
use crate::workflow::journal::Journal;
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

/// Checks the parts an incident runs with (its journaled settings) for
/// everything its run will need.
pub fn check_parts(parts: &Parts) -> Result<(), Refusal> {
    check(&parts.settings)
}

/// Checks what the steps of incident `id` that are not done yet will need
/// (a plan already made needs no LLM key; a finished agent step no agent
/// binary). Every run goes through this in `Run::drive`, the TUI's `p` and
/// `a` included.
pub fn check_incident(journal: &Journal, id: &str, settings: &Config) -> Result<(), Refusal> {
    let done = |step: &str| {
        journal
            .step::<StepRecord>(id, step)
            .ok()
            .flatten()
            .is_some_and(|r| r.status == StepStatus::Done)
    };
    check_remaining(settings, !done("plan"), !done("agent"))
}

/// Checks everything a run on `settings` will need; every problem found,
/// not only the first, in one [`Refusal`].
pub fn check(settings: &Config) -> Result<(), Refusal> {
    check_remaining(settings, true, true)
}

/// [`check`] for a run that still has to plan (`plan`) and run the agent (`agent_to_run`).
fn check_remaining(settings: &Config, plan: bool, agent_to_run: bool) -> Result<(), Refusal> {
    let builtin = settings.agent.kind == "builtin";
    let needs_llm = plan || (agent_to_run && builtin);
    let problems: Vec<String> = [
        needs_llm.then(|| llm(settings)).flatten(),
        agent_to_run.then(|| agent(settings)).flatten(),
        forge(settings),
        agent_to_run.then(|| sandbox(settings)).flatten(),
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
    fn a_plan_already_made_needs_no_llm_key_a_finished_agent_no_binary() {
        let c = config(
            "[llm]\nprovider = \"openai\"\nmodel = \"m\"\napi_key_env = \"MEDIC_PREFLIGHT_UNIT_NO_KEY\"\n\
             [agent]\nkind = \"codex\"\ncommand = \"/nonexistent/codex\"\nsandbox = \"none\"\n",
        );
        assert_eq!(
            check_remaining(&c, true, true).unwrap_err().problems.len(),
            2
        );
        let after_plan = check_remaining(&c, false, true).unwrap_err();
        assert!(
            after_plan.problems[0].contains("/nonexistent/codex"),
            "{after_plan}"
        );
        assert_eq!(after_plan.problems.len(), 1);
        assert_eq!(check_remaining(&c, false, false), Ok(()));
    }

    #[test]
    fn builtin_without_llm_is_refused() {
        let e = check(&config("[agent]\nkind = \"builtin\"\nsandbox = \"none\"\n")).unwrap_err();
        assert!(e.problems[0].contains("llm.provider is \"none\""), "{e}");
    }
}
