//! Helpers for tests that run real servers (Prometheus, VictoriaMetrics) and
//! the real medic binary: free loopback ports, a kill-on-drop guard, a tiny
//! HTTP client, and medic's JSON lines.
#![allow(dead_code)]

pub mod git_http;
pub mod kube_cluster;
pub mod scripted_llm;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A binary the test needs; fails (never skips) when it is missing.
pub fn require(bin: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(bin);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{bin}` is not on PATH: this test runs the real server. `.ci/run` installs it \
         (apt-get install prometheus victoria-metrics), or install it yourself"
    );
}

/// A free TCP port on loopback (bound and released; the race is harmless here).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when the guard drops, even on panic.
pub struct Running {
    /// The process.
    pub child: Child,
    /// What it is, for messages.
    pub name: String,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Running {
    /// Start `cmd` with stdout and stderr to `log`.
    pub fn start(name: &str, mut cmd: Command, log: &Path) -> Running {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Running {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        }
    }

    /// The log so far (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Wait until `GET path` answers 200, or panic with the server's log.
    pub fn wait_ready(&mut self, port: u16, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
            }
            if let Ok((200, _)) = http("GET", port, path, None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{} not ready on port {port} after {timeout:?}:\n{}",
            self.name,
            self.log_tail()
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 exchange with 127.0.0.1:`port`: (status, body).
pub fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&[u8]>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or(b"");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Run the real medic binary with a config file and a private data dir.
pub fn medic(config: &Path, args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("MEDIC_DATA_DIR", data.path())
        .output()
        .expect("run medic")
}

/// stdout as JSON lines; panics with stderr when medic failed.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "medic failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Wall-clock now in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The local forge's bare repository under `data`, once a workflow created it.
pub fn forge_repo(data: &Path) -> Option<PathBuf> {
    std::fs::read_dir(data.join("forge/repos"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "git"))
}

/// The `refs/heads/medic/…` branches pushed to the local forge under `data`.
pub fn medic_branches(data: &Path) -> Vec<String> {
    let Some(bare) = forge_repo(data) else {
        return Vec::new();
    };
    let refs = Command::new("git")
        .args(["for-each-ref", "--format=%(refname)", "refs/heads/medic/"])
        .current_dir(&bare)
        .output()
        .unwrap();
    String::from_utf8_lossy(&refs.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Backfill OpenMetrics text into a fresh TSDB and serve it with a real
/// Prometheus on a free port.
pub fn start_prometheus(dir: &Path, openmetrics: &str) -> (Running, u16) {
    let prometheus = require("prometheus");
    let promtool = require("promtool");
    let om = dir.join("history.om");
    std::fs::write(&om, openmetrics).unwrap();
    let tsdb = dir.join("tsdb");
    let made = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(&prom_cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=30d");
    let mut server = Running::start("prometheus", cmd, &dir.join("prometheus.log"));
    server.wait_ready(port, "/-/ready", Duration::from_secs(30));
    (server, port)
}
