//! The `medic` binary: parse the command line, load config, dispatch.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config, 3 `scan --once`
//! (or `backtest`) found a query, metric or source with no data to judge.
//! Everything it prints goes through `medic::terminal` (errors quote labels,
//! server bodies and config text), so `println!` is denied here.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::{Parser, Subcommand};
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
    /// The journal: incidents and their step states.
    Incidents {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Move a damaged journal aside and start fresh.
        #[arg(long)]
        repair: bool,
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
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some();
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
    match cli.command {
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
            )
            .await
        }
        Some(Command::Incidents { json, repair }) => {
            medic::commands::fix::incidents(&data_dir(&globals), json, repair)
        }
        Some(Command::Resume { id }) => {
            medic::commands::fix::resume(&data_dir(&globals), id.as_deref()).await
        }
        Some(Command::Eval {
            what: EvalCommand::Nab { nab_dir, out, cv },
        }) => eval_nab(&nab_dir, &out, cv),
        Some(Command::Demo {
            what: DemoCommand::Exporter { listen },
        }) => demo_exporter(&listen, globals.speed).await,
    }
}
