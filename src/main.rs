//! The `medic` binary: parse the command line, load config, dispatch.
//! Exit codes: 0 ok (also when the reader of a pipe closed it early), 1 runtime
//! failure, 2 bad usage, bad config or a pre-flight refusal, 3 `scan --once`
//! (or `backtest`) found a query, metric or source with no data to judge.
//! Everything it prints goes through `medic::terminal` (errors quote labels,
//! server bodies and config text), so `println!` is denied here.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::{Parser, Subcommand};
use medic::commands::hint::Invocation;
use medic::setup::{Globals, Setup, UsageError};
use medic::terminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// medic: infrastructure that fixes itself, with a human holding the keys.
#[derive(Debug, Parser)]
#[command(name = "medic", version, about, long_about = None)]
struct Cli {
    /// Config file (TOML). Without one, medic runs the embedded demo.
    #[arg(long, global = true, env = "MEDIC_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Force the embedded demo fleet, even with a config file.
    #[arg(long, global = true)]
    demo: bool,
    /// Where the journal and the local forge live.
    #[arg(long, global = true, env = "MEDIC_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Run the demo clock N times faster than real time.
    #[arg(long, global = true, default_value_t = 1.0, value_name = "N")]
    speed: f64,
    /// TUI colours: default, dark, light, high-contrast, mono, or a theme file (.toml).
    #[arg(long, global = true, env = "MEDIC_THEME", value_name = "THEME")]
    theme: Option<String>,
    /// Use colour: auto (off when NO_COLOR is set), always, never.
    #[arg(long, global = true, default_value = "auto", value_name = "WHEN")]
    color: medic::tui::theme::ColorChoice,
    /// ASCII only, for terminals without braille, blocks or box drawing.
    #[arg(long, global = true)]
    ascii: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Headless detection: print flagged services (JSON lines with --json).
    Scan {
        /// Evaluate once and exit (default: keep watching, print each change).
        #[arg(long)]
        once: bool,
        /// One JSON object per flagged service per line.
        #[arg(long)]
        json: bool,
    },
    /// Replay the rules over history and print every transition.
    Backtest {
        /// Start: RFC 3339 (2026-11-28T03:00:00Z), `now`, or relative (-2h).
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// End: RFC 3339, `now`, or relative (-1h).
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Evaluation step (default: source.step).
        #[arg(long)]
        step: Option<String>,
        /// JSON lines: {"service","rule","state","at"}.
        #[arg(long)]
        json: bool,
    },
    /// Headless pipeline for one service: context, plan, approval, agent, PR.
    Fix {
        /// The service to fix.
        service: String,
        /// Approve the plan without asking.
        #[arg(long)]
        yes: bool,
        /// Also push the paths the change policy holds back (CI files,
        /// hooks, symlinks, binaries, `[forge] protected`); never implied by --yes.
        #[arg(long)]
        confirm_held: bool,
    },
    /// Why a fleet is empty: each query, its series and services, and the
    /// labels the preset's series are missing.
    Doctor,
    /// The journal: incidents and their step states.
    Incidents {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Move a damaged journal aside and start fresh.
        #[arg(long)]
        repair: bool,
        /// The past incidents like this one, with their fix and outcome.
        #[arg(long, value_name = "ID")]
        similar: Option<String>,
    },
    /// Merge an incident's pull request on the local forge, then watch the
    /// change through (live, the verification window, the outcome).
    Merge {
        /// Incident id.
        id: String,
    },
    /// Continue an interrupted workflow (all of them without ID).
    Resume {
        /// Incident id.
        id: Option<String>,
    },
    /// Measure the anomaly score on a benchmark.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// Demo helpers.
    Demo {
        #[command(subcommand)]
        what: DemoCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EvalCommand {
    /// Score the Numenta Anomaly Benchmark: NAB_DIR holds data/ and labels/.
    Nab {
        /// NAB directory (data/<category>/*.csv, labels/combined_windows.json).
        nab_dir: PathBuf,
        /// Output directory for the per-file scores.
        out: PathBuf,
        /// Also choose the parameters by leave-one-category-out
        /// cross-validation and print each category's held-out score.
        #[arg(long)]
        cv: bool,
    },
    /// Replay the journal's incidents through today's triage and planner and
    /// report agreement with what was recorded and how the change turned out.
    Incidents {
        /// One JSON object per incident, then a summary object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Serve the demo fleet as Prometheus metrics (text exposition).
    Exporter {
        /// Address to listen on, e.g. 127.0.0.1:9100.
        #[arg(long)]
        listen: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            terminal::eprint_line(format_args!("medic: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`medic fix api | head`): stop quietly, as `cat` does.
        Err(e) if stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // A pre-flight refusal is a setup to fix, like a bad config.
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<medic::preflight::Refusal>().is_some();
            terminal::eprint_line(format_args!("medic: {e:#}"));
            // 3: scan found nothing to judge (what is missing is printed above).
            if e.downcast_ref::<medic::commands::scan::NoDataFound>()
                .is_some()
            {
                return ExitCode::from(medic::commands::scan::EXIT_NO_DATA);
            }
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// True when `e` comes from writing to a pipe whose reader has closed it.
fn stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `medic eval incidents [--json]`: today's planner is the one the config
/// names (`[llm]`, or the heuristic planner without one).
async fn eval_incidents(globals: &Globals, json: bool) -> anyhow::Result<()> {
    use medic::eval::incidents::{heuristic_now, replay};
    let setup = Setup::resolve(globals)?;
    let journal = medic::workflow::journal::Journal::open(&setup.data_dir)?;
    let parts = medic::workflow::parts::Parts::new(
        setup.source.clone(),
        setup.config.clone(),
        &setup.data_dir,
    )?;
    let llm = match parts.llm.configured() {
        true => Some(parts.llm.client(Default::default())?),
        false => None,
    };
    let report = replay(&journal, |inc, triage| {
        let (journal, llm) = (journal.clone(), llm.clone());
        async move {
            match llm {
                None => Some(heuristic_now(&journal, &inc, &triage)),
                Some(client) => medic::plan::planner::llm_plan(
                    &client,
                    &inc.flag,
                    &triage.judgement,
                    &triage.evidence,
                    6_000,
                )
                .await
                .ok(),
            }
        }
    })
    .await?;
    let mut out = terminal::stdout();
    let mark = |ok: bool| if ok { "✔" } else { "✖" };
    for (r, agrees) in &report.rows {
        if json {
            out.json_line(&serde_json::json!({"incident": r, "outcome_agrees": agrees}))?;
        } else {
            out.row(format_args!(
                "{:<28} {:<9} verdict {} → {} {}  fix {:?} → {:?} {}  outcome {}",
                r.id,
                r.service,
                r.verdict_then.word(),
                r.verdict_now.word(),
                mark(r.verdict_then == r.verdict_now),
                r.fix_then,
                r.fix_now,
                mark(r.fix_then == r.fix_now),
                match (r.outcome, agrees) {
                    (Some(o), Some(a)) => format!("{} {}", o.label(), mark(*a)),
                    _ => "not watched".into(),
                }
            ))?;
        }
    }
    let ((v, n), (f, _), (o, m)) = (report.verdicts(), report.fixes(), report.outcomes());
    if json {
        out.json_line(&serde_json::json!({
            "verdicts_agree": v, "fix_kinds_agree": f, "incidents": n,
            "outcomes_agree": o, "watched": m,
        }))?;
    } else {
        out.row(format_args!(
            "verdicts agree {v}/{n}; fix kinds agree {f}/{n}; outcomes agree {o}/{m} (watched through)"
        ))?;
    }
    Ok(())
}

/// `medic eval nab`: score the corpus, print one line per profile; with
/// `--cv`, the leave-one-category-out table after them.
fn eval_nab(nab_dir: &std::path::Path, out: &std::path::Path, cv: bool) -> anyhow::Result<()> {
    use medic::eval::nab;
    if !nab_dir.join("labels/combined_windows.json").is_file() {
        return Err(UsageError(format!(
            "{} is not a NAB directory: expected data/<category>/*.csv and labels/combined_windows.json",
            nab_dir.display()
        ))
        .into());
    }
    let started = std::time::Instant::now();
    let corpus = nab::Corpus::load(nab_dir)?;
    let scored = corpus.score(&medic::detect::anomaly::AnomalyConfig::default());
    let scoring_ms = started.elapsed().as_secs_f64() * 1000.0;
    nab::write_scores(&corpus, &scored, out)?;
    let report = nab::report(&corpus, &scored);
    let mut w = terminal::stdout();
    for p in &report.profiles {
        // The contract names profiles without NAB's `_rate` suffix.
        w.row(format_args!(
            "{}: {:.1}",
            p.profile.name.trim_end_matches("_rate"),
            p.score
        ))?;
    }
    terminal::eprint_line(format_args!(
        "{} files, {} points scored in {scoring_ms:.0} ms; per-file scores in {}",
        report.files,
        report.points,
        out.display()
    ));
    if cv {
        let grid = nab::cv::grid();
        let table = nab::cv::loco(&corpus, &grid);
        w.row(format_args!(
            "leave-one-category-out, standard profile ({} settings tuned on the other categories):",
            grid.len()
        ))?;
        w.row(format_args!(
            "  {:<24} {:>7} {:>8} {:>9}  chosen",
            "category", "windows", "all-in", "held-out"
        ))?;
        for f in &table.folds {
            let all_in = report.categories.iter().find(|c| c.category == f.category);
            let cell = |score: Option<f64>, raw: f64| match score {
                Some(s) => format!("{s:.1}"),
                None => format!("fp {raw:.2}"),
            };
            let c = &grid[f.chosen];
            w.row(format_args!(
                "  {:<24} {:>7} {:>8} {:>9}  rest {} margin {} radius {} season gate {}",
                terminal::one_line(&f.category),
                f.windows,
                all_in.map_or(String::new(), |a| cell(
                    (a.windows > 0).then_some(a.score),
                    a.raw
                )),
                cell(f.held_out, f.held_out_raw),
                c.rest,
                c.margin,
                c.radius,
                c.season_gate
            ))?;
        }
        w.row(format_args!(
            "held-out mean: {:.1}  all-in: {:.1}",
            table.mean, report.profiles[0].score
        ))?;
    }
    Ok(())
}

fn data_dir(globals: &Globals) -> PathBuf {
    globals
        .data_dir
        .clone()
        .unwrap_or_else(medic::setup::default_data_dir)
}

/// `medic demo exporter`: the demo fleet on `/metrics` for a real Prometheus.
async fn demo_exporter(listen: &str, speed: f64) -> anyhow::Result<()> {
    if !(speed > 0.0 && speed.is_finite()) {
        return Err(UsageError(format!("--speed {speed} must be a positive number")).into());
    }
    let medic::sources::Source::Demo { demo, clock } =
        medic::sources::Source::demo(medic::sources::demo::DEFAULT_SEED, speed)
    else {
        unreachable!("Source::demo builds the demo");
    };
    medic::sources::exporter::serve(listen, medic::sources::exporter::Exporter::new(demo, clock))
        .await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let globals = Globals {
        config: cli.config,
        demo: cli.demo,
        data_dir: cli.data_dir,
        speed: cli.speed,
    };
    // Every command medic suggests repeats the global flags given here.
    let hint = Invocation::new(
        &globals,
        cli.ascii,
        cli.theme.as_deref(),
        match cli.color {
            medic::tui::theme::ColorChoice::Auto => None,
            medic::tui::theme::ColorChoice::Always => Some("always"),
            medic::tui::theme::ColorChoice::Never => Some("never"),
        },
    );
    let result = match cli.command {
        None => {
            let theme = medic::tui::theme::Theme::choose(cli.theme.as_deref(), cli.color)
                .map_err(|e| UsageError(e.to_string()))?;
            let options = medic::tui::Options {
                theme,
                ascii: cli.ascii,
            };
            medic::tui::run(Setup::resolve(&globals)?, options).await
        }
        Some(Command::Scan { once, json }) => {
            medic::commands::scan::run(Setup::resolve(&globals)?, once, json).await
        }
        Some(Command::Backtest {
            from,
            to,
            step,
            json,
        }) => {
            medic::commands::backtest::run(
                Setup::resolve(&globals)?,
                &from,
                &to,
                step.as_deref(),
                json,
            )
            .await
        }
        Some(Command::Fix {
            service,
            yes,
            confirm_held,
        }) => {
            let config = globals.config.clone();
            medic::commands::fix::fix(
                Setup::resolve(&globals)?,
                &service,
                yes,
                confirm_held,
                config,
                &hint,
            )
            .await
        }
        Some(Command::Doctor) => medic::commands::doctor::run(Setup::resolve(&globals)?).await,
        Some(Command::Incidents {
            json,
            similar: Some(id),
            ..
        }) => medic::commands::similar::similar(&data_dir(&globals), &id, json),
        Some(Command::Incidents { json, repair, .. }) => {
            medic::commands::incidents::incidents(&data_dir(&globals), json, repair, &hint)
        }
        Some(Command::Merge { id }) => {
            medic::commands::merge::merge(&data_dir(&globals), &id, &hint).await
        }
        Some(Command::Resume { id }) => {
            medic::commands::incidents::resume(&data_dir(&globals), id.as_deref(), &hint).await
        }
        Some(Command::Eval {
            what: EvalCommand::Nab { nab_dir, out, cv },
        }) => eval_nab(&nab_dir, &out, cv),
        Some(Command::Eval {
            what: EvalCommand::Incidents { json },
        }) => eval_incidents(&globals, json).await,
        Some(Command::Demo {
            what: DemoCommand::Exporter { listen },
        }) => demo_exporter(&listen, globals.speed).await,
    };
    result.map_err(|e| with_repair_hint(e, &hint))
}

/// A damaged journal's error, ending with the repair command in the
/// operator's own flags (the journal names it without them).
fn with_repair_hint(e: anyhow::Error, hint: &Invocation) -> anyhow::Error {
    let corrupt = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<medic::workflow::journal::JournalError>(),
            Some(medic::workflow::journal::JournalError::Corrupt { .. })
        )
    });
    if corrupt {
        // Exit code 1 either way: only the words change.
        let repair = hint.suggest(&["incidents", "--repair"]);
        anyhow::anyhow!("{e:#} (with your flags: `{repair}`)")
    } else {
        e
    }
}
