//! Hostile label values through the real print paths: a real Prometheus
//! (history made with `promtool tsdb create-blocks-from openmetrics`) serves
//! a leaking service whose `service` label sets the terminal title (OSC 0),
//! writes the clipboard (OSC 52), clears the screen (CSI 2J, also as the
//! 8-bit C1 CSI), reverses text (U+202E) and holds a newline that would
//! forge a row. `scan`, `backtest`, `fix`, `incidents` (text and JSON)
//! must show it escaped, keep JSON exact, and leave a tmux pane's title,
//! buffers and screen untouched; a config error quoting hostile file text
//! is escaped too.
//!
//! Needs prometheus, promtool and tmux (installed by `.ci/run`).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The label value an attacker controls.
const HOSTILE: &str =
    "api\u{1b}]0;PWNED-TITLE\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}2J\u{202e}x\nforged row";

struct Fixture {
    dir: tempfile::TempDir,
    config: PathBuf,
    _prometheus: Running,
}

/// A Prometheus whose hostile-named service uses 95% of its memory limit
/// for the last two hours (and ten minutes ahead), beside a healthy `web`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms() / 1000;
    // OpenMetrics escapes only `\`, `"` and newline inside label values.
    let label = HOSTILE.replace('\n', "\\n");
    let mut om = String::new();
    for (name, hostile, web) in [("mem", 30.4e9, 1e9), ("mem_limit", 32e9, 8e9)] {
        om.push_str(&format!("# TYPE {name} gauge\n"));
        for (svc, v) in [(label.as_str(), hostile), ("web", web)] {
            for t in (now - 7200..=now + 600).step_by(15) {
                om.push_str(&format!("{name}{{service=\"{svc}\"}} {v} {t}\n"));
            }
        }
    }
    om.push_str("# EOF\n");
    let (server, port) = start_prometheus(dir.path(), &om);
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:{port}\"\nstep = \"15s\"\nlookback = \"1h\"\n\n\
             [source.queries]\ncpu = ''\ncpu_limit = ''\nrequests = ''\nerrors = ''\n\
             memory = 'sum by (service) (mem)'\nmemory_limit = 'sum by (service) (mem_limit)'\n"
        ),
    )
    .unwrap();
    Fixture {
        dir,
        config,
        _prometheus: server,
    }
}

/// The commands under test, as argument lists (the data dir is shared, so
/// `incidents` lists what `fix` opened).
fn commands() -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        s(&["scan", "--once"]),
        s(&["scan", "--once", "--json"]),
        s(&["backtest", "--from", "-90m", "--to", "now"]),
        s(&["backtest", "--from", "-90m", "--to", "now", "--json"]),
        s(&["fix", HOSTILE, "--yes"]),
        s(&["incidents"]),
        s(&["incidents", "--json"]),
    ]
}

/// Runs medic with `args`, killed after `limit`; (stdout, stderr).
fn run(f: &Fixture, data: &Path, args: &[String], limit: Duration) -> (Vec<u8>, Vec<u8>) {
    let out_path = f.dir.path().join("out");
    let err_path = f.dir.path().join("err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .arg("--config")
        .arg(&f.config)
        .env("MEDIC_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        std::fs::read(&out_path).unwrap(),
        std::fs::read(&err_path).unwrap(),
    )
}

/// Bytes a terminal would act on: C0 except newline and tab, DEL, and (in
/// the text) C1, line separators and bidi controls.
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.char_indices()
        .filter(|(_, c)| {
            let u = *c as u32;
            (u < 0x20 && *c != '\n' && *c != '\t')
                || (0x7f..=0x9f).contains(&u)
                || (0x2028..=0x202e).contains(&u)
                || (0x2066..=0x2069).contains(&u)
        })
        .map(|(i, c)| {
            let from = text[..i].char_indices().rev().nth(20).map_or(0, |(j, _)| j);
            format!("{c:?} after {:?}", &text[from..i])
        })
        .collect()
}

#[test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
fn hostile_labels_are_escaped_in_every_command_and_json_stays_exact() {
    let f = fixture();
    let data = f.dir.path().join("data");
    let mut seen_escaped = false;
    for args in commands() {
        let limit = Duration::from_secs(if args[0] == "fix" { 120 } else { 30 });
        let (out, err) = run(&f, &data, &args, limit);
        let what = args[0..args.len().min(2)].join(" ");
        for (stream, bytes) in [("stdout", &out), ("stderr", &err)] {
            let bad = raw_controls(bytes);
            assert!(bad.is_empty(), "`{what}` {stream} printed raw {bad:?}");
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.lines().any(|l| l.starts_with("forged row")),
                "`{what}` {stream}: a newline in a label forged a row:\n{text}"
            );
            seen_escaped |= text.contains("\\x1b]0;PWNED-TITLE\\x07");
        }
        // `scan --json` and `backtest --json` must carry the label exactly.
        // (`incidents --json` lists it only when the journal can read the
        // incident back.)
        if args[0] != "incidents" && args.contains(&"--json".to_string()) {
            let text = String::from_utf8(out).unwrap();
            let services: Vec<String> = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .map(|v| v["service"].as_str().unwrap_or_default().to_string())
                .collect();
            assert!(
                services.iter().any(|s| s == HOSTILE),
                "`{what}`: the JSON must carry the label exactly: {services:?}\n{text}"
            );
        }
    }
    assert!(
        seen_escaped,
        "the hostile label never showed (escaped) in the text output"
    );
}

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux(String);

impl Tmux {
    fn new(tag: &str) -> Tmux {
        Tmux(format!("medic-term-{tag}-{}", std::process::id()))
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux is installed by .ci/run (apt-get install tmux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A 200×120 pane running `script`, with OSC 52 landing in tmux buffers.
    fn start(&self, script: &Path) {
        self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "200",
            "-y",
            "120",
            "sleep 600",
        ]);
        self.cmd(&["set-option", "-s", "set-clipboard", "on"]);
        self.cmd(&["set-option", "-g", "allow-rename", "on"]);
        let sh = format!("sh {}", script.display());
        self.cmd(&["respawn-pane", "-k", "-t", "t", &sh]);
    }

    fn title(&self) -> String {
        self.cmd(&["display-message", "-p", "-t", "t", "#{pane_title}"])
            .trim()
            .to_string()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    fn wait_for(&self, text: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let shot = self.screen();
            if shot.contains(text) {
                return shot;
            }
            assert!(
                start.elapsed() < limit,
                "`{text}` never appeared; the screen:\n{shot}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .output();
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
#[ignore = "needs prometheus, promtool and tmux (apt install prometheus tmux); .ci/run installs them and runs ignored tests"]
fn in_tmux_the_pane_title_buffers_and_screen_stay_untouched() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is installed by .ci/run (apt-get install tmux)"
    );
    let f = fixture();
    // The control: the same escapes printed raw do set the title and a
    // buffer here, so this test can fail.
    let control = Tmux::new("control");
    let raw = f.dir.path().join("raw.sh");
    std::fs::write(
        &raw,
        "printf '\\033]0;PWNED-TITLE\\007\\033]52;c;cHduZWQ=\\007'; echo RAW-DONE; sleep 600\n",
    )
    .unwrap();
    control.start(&raw);
    control.wait_for("RAW-DONE", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        control.title(),
        "PWNED-TITLE",
        "control: OSC 0 sets the title"
    );
    assert!(
        !control.cmd(&["list-buffers"]).trim().is_empty(),
        "control: OSC 52 makes a tmux buffer"
    );

    let tmux = Tmux::new("medic");
    let data = f.dir.path().join("data");
    let mut script = String::from("sleep 0.5\necho MEDIC-BEGIN\n");
    for args in commands() {
        let quoted: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        script.push_str(&format!(
            "MEDIC_DATA_DIR={} timeout 120 {} --config {} {} 2>&1 | tail -n 20\n",
            sh_quote(&data.display().to_string()),
            sh_quote(env!("CARGO_BIN_EXE_medic")),
            sh_quote(&f.config.display().to_string()),
            quoted.join(" ")
        ));
    }
    script.push_str("echo MEDIC-END\nsleep 600\n");
    let path = f.dir.path().join("run.sh");
    std::fs::write(&path, script).unwrap();
    tmux.start(&path);
    let before = tmux.title();
    let shot = tmux.wait_for("MEDIC-END", Duration::from_secs(240));
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(tmux.title(), "PWNED-TITLE", "a label set the pane title");
    assert_eq!(tmux.title(), before, "the pane title changed");
    let buffers = tmux.cmd(&["list-buffers"]);
    assert!(
        buffers.trim().is_empty(),
        "a label wrote the clipboard (tmux buffers): {buffers}"
    );
    assert!(
        shot.contains("MEDIC-BEGIN"),
        "the screen was cleared (CSI 2J):\n{shot}"
    );
    assert!(
        !shot.lines().any(|l| l.starts_with("forged row")),
        "a newline in a label forged a row:\n{shot}"
    );
    assert!(
        shot.contains("\\x1b]0;PWNED-TITLE"),
        "the label shows, escaped:\n{shot}"
    );
}

#[test]
fn a_config_error_quoting_hostile_file_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        // TOML's own escapes put a real ESC and BEL in the value.
        "[llm]\nprovider = \"x\\u001b]0;PWNED-TITLE\\u0007\\u001b]52;c;cHduZWQ=\\u0007\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--once", "--config"])
        .arg(&config)
        .env("MEDIC_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad config is exit 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(raw_controls(&out.stderr).is_empty(), "raw: {err}");
    assert!(err.contains("x\\x1b]0;PWNED-TITLE\\x07"), "{err}");
}
