//! `run_command`: argv only (no shell), from an allowlist, in the checkout,
//! inside the bubblewrap [`Jail`] (no network, a private HOME, an allowlisted
//! environment), a timeout that kills the whole process group, and output
//! cut to its head and tail. The argument checks here are defence in depth:
//! the jail is the fence.

use crate::agent::jail::Jail;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Commands the agent may run, each an argv prefix: `["git", "diff"]`
/// allows `git diff …` and nothing else of git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist(pub Vec<Vec<String>>);

impl Default for Allowlist {
    /// Builds, tests, linters and read-only git: what checking a fix needs.
    fn default() -> Self {
        let entries: &[&[&str]] = &[
            &["cargo", "build"],
            &["cargo", "check"],
            &["cargo", "test"],
            &["cargo", "fmt"],
            &["cargo", "clippy"],
            &["go", "build"],
            &["go", "test"],
            &["go", "vet"],
            &["gofmt"],
            &["npm", "test"],
            &["npm", "run", "test"],
            &["npm", "run", "lint"],
            &["pytest"],
            &["python3", "-m", "pytest"],
            &["make"],
            &["git", "diff"],
            &["git", "status"],
            &["git", "log"],
            &["git", "show"],
        ];
        Allowlist(
            entries
                .iter()
                .map(|e| e.iter().map(|s| s.to_string()).collect())
                .collect(),
        )
    }
}

impl Allowlist {
    /// Adds an entry (e.g. a project's own test script).
    pub fn allow(mut self, argv: &[&str]) -> Allowlist {
        self.0.push(argv.iter().map(|s| s.to_string()).collect());
        self
    }

    fn permits(&self, argv: &[String]) -> bool {
        self.0
            .iter()
            .any(|e| !e.is_empty() && argv.len() >= e.len() && argv[..e.len()] == e[..])
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|e| e.join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How a command may run.
#[derive(Debug, Clone)]
pub struct CommandLimits {
    /// What may run.
    pub allowlist: Allowlist,
    /// Wall-clock limit per command; the process group is killed after it.
    pub timeout: Duration,
    /// Bytes of output kept per stream: half from the head, half from the tail.
    pub max_output: usize,
}

/// Why an argv is refused before anything runs.
pub fn check(argv: &[String], allow: &Allowlist) -> Result<(), String> {
    let Some(program) = argv.first() else {
        return Err("empty command".into());
    };
    if program.contains('/') {
        return Err(format!(
            "`{program}`: give a program name from the allowlist, not a path"
        ));
    }
    if !allow.permits(argv) {
        return Err(format!(
            "`{}` is not on the allowlist (no shell; argv only). Allowed: {}",
            argv.join(" "),
            allow.describe()
        ));
    }
    for a in &argv[1..] {
        // `--manifest-path=/x`, `-C ..`, `--output=…`: arguments that reach
        // outside the checkout or write where the sandbox cannot see.
        // A value can follow `=` or be glued to a short option (`-C/`, `-f/abs`).
        let mut values = vec![a.as_str(), a.split_once('=').map_or(a.as_str(), |(_, v)| v)];
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 && a.is_char_boundary(2) {
            values.push(&a[2..]);
        }
        let outward = values.iter().any(|value| {
            value.starts_with('/')
                || value.starts_with('~')
                || value.split(['/', '\\']).any(|c| c == "..")
        });
        if outward {
            return Err(format!("argument `{a}` leads outside the checkout"));
        }
        let refused = a.starts_with("--output")
            || a.starts_with("-o")
            || a.starts_with("--exec")
            || a.starts_with("-C")
            || a.starts_with("--directory")
            || a.starts_with("--git-dir")
            || a.starts_with("--work-tree");
        if refused {
            return Err(format!("argument `{a}` is not allowed"));
        }
    }
    Ok(())
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutput {
    /// Exit code (`None`: killed by a signal or the timeout).
    pub code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Standard output, cut to head and tail.
    pub stdout: String,
    /// Standard error, cut to head and tail.
    pub stderr: String,
}

impl CommandOutput {
    /// The text the model gets back.
    pub fn render(&self, timeout: Duration) -> String {
        let status = if self.timed_out {
            format!(
                "killed after the {}s timeout (the whole process group)",
                timeout.as_secs()
            )
        } else {
            match self.code {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".into(),
            }
        };
        format!(
            "{status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Keeps the first and last `half` bytes of a stream.
struct HeadTail {
    half: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: usize,
}

impl HeadTail {
    fn new(max: usize) -> HeadTail {
        HeadTail {
            half: (max / 2).max(1),
            head: Vec::new(),
            tail: VecDeque::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.half - self.head.len().min(self.half);
        let take = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        for &b in bytes {
            if self.tail.len() == self.half {
                self.tail.pop_front();
                self.dropped += 1;
            }
            self.tail.push_back(b);
        }
    }

    fn text(self) -> String {
        let head = String::from_utf8_lossy(&self.head).into_owned();
        let tail: Vec<u8> = self.tail.into_iter().collect();
        let tail = String::from_utf8_lossy(&tail);
        if self.dropped == 0 {
            format!("{head}{tail}")
        } else {
            format!("{head}\n[… {} bytes cut …]\n{tail}", self.dropped)
        }
    }
}

async fn drain(mut r: impl AsyncRead + Unpin, max: usize) -> String {
    let mut keep = HeadTail::new(max);
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => keep.push(&buf[..n]),
        }
    }
    keep.text()
}

/// Runs an already [`check`]ed argv in the checkout, inside `jail` (no
/// network, a private HOME, the allowlisted environment).
pub async fn run(
    argv: &[String],
    jail: &Jail,
    limits: &CommandLimits,
) -> std::io::Result<CommandOutput> {
    // Never prompt for credentials, never read a git config outside the
    // checkout (it may carry credential helpers or aliases).
    let env: Vec<(String, String)> = [
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_PAGER", "cat"),
        ("PAGER", "cat"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec();
    let mut cmd = jail.command(&argv[0], &argv[1..], &env);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let out = tokio::spawn(drain(
        child.stdout.take().expect("piped"),
        limits.max_output,
    ));
    let err = tokio::spawn(drain(
        child.stderr.take().expect("piped"),
        limits.max_output,
    ));
    let (code, timed_out) = match tokio::time::timeout(limits.timeout, child.wait()).await {
        Ok(status) => (status?.code(), false),
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            (None, true)
        }
    };
    // A grandchild that left the group could hold the pipes open: do not
    // wait for it forever.
    let grace = Duration::from_secs(2);
    let stdout = tokio::time::timeout(grace, out)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr = tokio::time::timeout(grace, err)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(CommandOutput {
        code,
        timed_out,
        stdout,
        stderr,
    })
}

/// SIGKILL to the command's process group (its children die with it).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn only_the_allowlist_runs() {
        let a = Allowlist::default();
        assert!(check(&argv("git status"), &a).is_ok());
        assert!(check(&argv("cargo test --lib"), &a).is_ok());
        for bad in [
            "curl http://x",
            "sh -c ls",
            "git push",
            "git -C / status",
            "/usr/bin/git status",
            "cargo test --manifest-path=/etc/Cargo.toml",
            "git diff --output=x",
            "make -C ../other",
            "make -C/",
            "make -C/etc",
            "make -f/etc/Makefile",
            "make --directory=/",
            "make -I~/x",
            "git diff -o/tmp/x",
            "git --git-dir=.git status",
        ] {
            assert!(check(&argv(bad), &a).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_keeps_head_and_tail() {
        let mut h = HeadTail::new(10);
        h.push(b"0123456789abcdefghij");
        let t = h.text();
        assert!(t.starts_with("01234") && t.ends_with("fghij") && t.contains("10 bytes cut"));
    }
}
