//! The one place that confines agent processes: every command the builtin
//! agent runs and every external agent (OpenCode, Claude Code, Codex) starts
//! through [`Jail::command`], which wraps it in bubblewrap.
//!
//! Inside: the checkout read-write at its own path, the toolchain read-only
//! (`/usr`, the `/bin` and `/lib*` links, a few `/etc` files, toolchains on
//! PATH, the agent's own install dir), a private empty HOME and `/tmp`
//! (tmpfs), every namespace unshared (no network for builtin commands; the
//! network, for its model, for external agents), a new session, all
//! capabilities dropped, and an environment built from an allowlist. The
//! sandbox's pid namespace dies with its first process, and bubblewrap dies
//! with medic: nothing the agent starts outlives its step. Secrets never go
//! on the bwrap command line (other users can read argv); they travel in the
//! environment only when a driver or `[agent] pass_env` names them.
//!
//! `[agent] sandbox = "none"` turns this off (the command runs as is, still
//! with the allowlisted environment); [`warning`] is what the operator is
//! shown on every run then.

use crate::config::{AgentConfig, SandboxMode};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The private HOME inside the sandbox (a tmpfs).
pub const SANDBOX_HOME: &str = "/home/medic-agent";

/// Variables every sandboxed process may see, with the operator's values.
const BASE_ENV: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "NO_COLOR",
];

/// Proxy settings an agent with the network needs to reach its model.
const PROXY_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
];

/// `/etc` entries the toolchain needs (certificates, users, the loader,
/// Debian's alternatives); nothing that holds credentials.
const ETC: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "ssl",
    "pki",
    "passwd",
    "group",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "gai.conf",
    "protocols",
    "services",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "os-release",
    "debian_version",
];

/// Top-level directories that are (or link to) the system toolchain.
const SYSTEM_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Toolchain homes under the operator's HOME that carry no credentials,
/// bound read-only when present, with the variable that points tools at them.
const TOOLCHAIN_HOMES: &[(&str, &str)] = &[
    (".rustup", "RUSTUP_HOME"),
    (".pyenv", "PYENV_ROOT"),
    (".nvm", "NVM_DIR"),
];

/// Path components that never get bound, whatever PATH says.
const NEVER_BIND: &[&str] = &[
    ".ssh",
    ".aws",
    ".config",
    ".gnupg",
    ".docker",
    ".kube",
    ".azure",
    ".gcloud",
    ".password-store",
];

/// Whether the sandbox lets the process reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A network namespace of its own with only loopback: builtin commands.
    None,
    /// The host's network (an external agent must reach its model).
    Shared,
}

/// Why an agent process cannot be started confined.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// bubblewrap is missing and the sandbox is on.
    #[error("bubblewrap (`bwrap`) is not installed, and medic runs every agent process inside it: install it (`apt install bubblewrap`), or set `[agent] sandbox = \"none\"` to run agents unconfined (not recommended)")]
    NoBubblewrap,
    /// The checkout cannot be resolved.
    #[error("checkout {path}: {source}")]
    Checkout {
        /// The checkout.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// How agent processes are confined: the mode and the extra variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// bubblewrap or nothing.
    pub mode: SandboxMode,
    /// Names of operator env vars passed in (external agents: their keys).
    pub pass_env: Vec<String>,
}

impl Policy {
    /// The policy `[agent]` describes, with `defaults` (a kind's own variables) added.
    pub fn from_config(config: &AgentConfig, defaults: &[&str]) -> Policy {
        let mut pass_env: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
        for v in &config.pass_env {
            if !pass_env.contains(v) {
                pass_env.push(v.clone());
            }
        }
        Policy {
            mode: config.sandbox,
            pass_env,
        }
    }
}

/// How the unconfined-agent warning starts (the TUI paints such log lines red).
pub const WARNING_PREFIX: &str = "WARNING: [agent] sandbox = \"none\"";

/// The red line the operator sees on every run when the sandbox is off
/// (`None` when it is on or the agent runs no process).
pub fn warning(config: &AgentConfig) -> Option<String> {
    policy_warning(config.sandbox, &config.kind)
}

/// `text` in red for a terminal (plain when `NO_COLOR` is set).
pub fn in_red(text: &str) -> String {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        text.to_string()
    } else {
        format!("\x1b[1;31m{text}\x1b[0m")
    }
}

/// [`warning`] for a mode and an agent kind.
pub fn policy_warning(mode: SandboxMode, kind: &str) -> Option<String> {
    (mode == SandboxMode::None && kind != "mitigate").then(|| {
        format!(
            "{WARNING_PREFIX}: the {} agent runs with your user, HOME, credentials and network; remove that line to run it inside bubblewrap",
            kind
        )
    })
}

/// A sandbox for one agent process in one checkout.
#[derive(Debug, Clone)]
pub struct Jail {
    /// bwrap's path; `None`: the sandbox is off.
    bwrap: Option<PathBuf>,
    checkout: PathBuf,
    /// The path the caller named, when it differs from the canonical one.
    alias: Option<PathBuf>,
    network: Network,
    read_only: Vec<PathBuf>,
    env: Vec<(String, String)>,
    /// medic's own uid (0: root).
    host_uid: u32,
}

impl Jail {
    /// A jail for `checkout`; fails when the sandbox is on and bubblewrap is missing.
    pub fn new(policy: &Policy, checkout: &Path, network: Network) -> Result<Jail, JailError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Jail::with_host(policy, checkout, network, &path, home.as_deref())
    }

    /// [`Jail::new`] with the host's PATH and HOME given (for tests).
    pub fn with_host(
        policy: &Policy,
        checkout: &Path,
        network: Network,
        path: &std::ffi::OsStr,
        home: Option<&Path>,
    ) -> Result<Jail, JailError> {
        let canonical = checkout
            .canonicalize()
            .map_err(|source| JailError::Checkout {
                path: checkout.display().to_string(),
                source,
            })?;
        let bwrap = match policy.mode {
            SandboxMode::None => None,
            SandboxMode::Bwrap => Some(find_on(path, "bwrap").ok_or(JailError::NoBubblewrap)?),
        };
        let alias = (checkout.is_absolute() && checkout != canonical).then(|| checkout.into());
        let mut jail = Jail {
            bwrap,
            checkout: canonical,
            alias,
            network,
            read_only: Vec::new(),
            env: Vec::new(),
            host_uid: {
                use std::os::unix::fs::MetadataExt;
                std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
            },
        };
        // The environment: the allowlist, then what the policy names.
        for (k, v) in std::env::vars_os() {
            let (Some(k), Some(v)) = (k.to_str(), v.to_str()) else {
                continue;
            };
            let proxy = network == Network::Shared && PROXY_ENV.contains(&k);
            if BASE_ENV.contains(&k) || proxy || policy.pass_env.iter().any(|p| p == k) {
                jail.env.push((k.to_string(), v.to_string()));
            }
        }
        if jail.bwrap.is_some() {
            jail.env.push(("HOME".into(), SANDBOX_HOME.into()));
            jail.env.push(("TMPDIR".into(), "/tmp".into()));
            // Toolchains on PATH outside /usr, read-only (not the credentials near them).
            for dir in std::env::split_paths(path) {
                if let Some(d) = bindable(&dir, home) {
                    jail.add_read_only(d);
                }
            }
            if let Some(home) = home {
                for (dir, var) in TOOLCHAIN_HOMES {
                    let d = home.join(dir);
                    let explicit = std::env::var_os(var).map(PathBuf::from);
                    let d = explicit.unwrap_or(d);
                    if d.is_dir() {
                        jail.env.push((var.to_string(), d.display().to_string()));
                        jail.add_read_only(d);
                    }
                }
            }
        } else if let Some(home) = home {
            jail.env.push(("HOME".into(), home.display().to_string()));
        }
        Ok(jail)
    }

    /// Whether bubblewrap confines the process (`false`: `[agent] sandbox = "none"`).
    pub fn confined(&self) -> bool {
        self.bwrap.is_some()
    }

    /// The checkout, canonical.
    pub fn checkout(&self) -> &Path {
        &self.checkout
    }

    /// Binds `program`'s install directory read-only: for an npm package,
    /// the prefix holding `bin/` and `lib/node_modules/`; otherwise the
    /// directory of the binary (and of the link that names it), or the file
    /// alone when that directory holds the checkout (or medic's data).
    pub fn bind_program(&mut self, program: &str) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let found = if program.contains('/') {
            std::path::absolute(program).ok()
        } else {
            find_on(&path, program)
        };
        let Some(found) = found else { return };
        let real = found.canonicalize().unwrap_or_else(|_| found.clone());
        for file in [&found, &real] {
            let text = file.display().to_string();
            let dir = match text.find("/lib/node_modules/") {
                Some(at) => PathBuf::from(&text[..at]),
                None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            let dir = dir.canonicalize().unwrap_or(dir);
            if self.checkout.starts_with(&dir) {
                self.add_read_only(file.to_path_buf());
            } else {
                self.add_read_only(dir);
            }
        }
    }

    fn add_read_only(&mut self, dir: PathBuf) {
        let dir = dir.canonicalize().unwrap_or(dir);
        let system = dir == Path::new("/")
            || dir.starts_with("/usr")
            || dir.starts_with("/proc")
            || dir.starts_with("/dev")
            || SYSTEM_DIRS
                .iter()
                .any(|d| dir.starts_with(Path::new("/").join(d)));
        let sensitive = dir
            .components()
            .any(|c| NEVER_BIND.iter().any(|n| c.as_os_str() == *n));
        if dir.is_absolute()
            && dir.exists()
            && !system
            && !sensitive
            && !self.read_only.iter().any(|d| dir.starts_with(d))
            && !self.checkout.starts_with(&dir)
        {
            // One bind per tree: a directory already under this one goes.
            self.read_only.retain(|d| !d.starts_with(&dir));
            self.read_only.push(dir);
        }
    }

    /// bwrap's arguments (everything before the program), in order.
    pub fn bwrap_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
        push(&[
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--unshare-user",
            // The process is the pid namespace's init: when it exits the kernel
            // kills everything left in the namespace before bwrap sees it exit,
            // so "the command ended" means "nothing it started is running".
            "--as-pid-1",
            "--cap-drop",
            "ALL",
        ]);
        // As root, the sandbox runs as `nobody` (in every passwd): no
        // capabilities, and the agents' own nested sandboxes (Codex runs
        // bubblewrap) can still set up their user namespace.
        if self.host_uid == 0 {
            push(&["--uid", "65534", "--gid", "65534"]);
        }
        if self.network == Network::Shared {
            push(&["--share-net"]);
        }
        push(&["--ro-bind", "/usr", "/usr"]);
        for d in SYSTEM_DIRS {
            let host = Path::new("/").join(d);
            match std::fs::read_link(&host) {
                Ok(target) => a.extend([
                    OsString::from("--symlink"),
                    target.into_os_string(),
                    host.clone().into_os_string(),
                ]),
                Err(_) if host.is_dir() => a.extend([
                    OsString::from("--ro-bind"),
                    host.clone().into_os_string(),
                    host.into_os_string(),
                ]),
                Err(_) => {}
            }
        }
        let mut etc: Vec<&str> = ETC.to_vec();
        if self.network == Network::Shared {
            etc.push("resolv.conf");
        }
        for e in etc {
            let p = format!("/etc/{e}");
            a.extend(["--ro-bind-try", &p, &p].map(OsString::from));
        }
        a.extend(
            [
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--tmpfs",
                "/tmp",
                "--tmpfs",
                SANDBOX_HOME,
            ]
            .map(OsString::from),
        );
        for d in &self.read_only {
            a.extend([
                OsString::from("--ro-bind"),
                d.clone().into_os_string(),
                d.clone().into_os_string(),
            ]);
        }
        let co = self.checkout.clone().into_os_string();
        a.extend([OsString::from("--bind"), co.clone(), co.clone()]);
        if let Some(alias) = &self.alias {
            a.extend([
                OsString::from("--bind"),
                co.clone(),
                alias.clone().into_os_string(),
            ]);
        }
        a.extend([OsString::from("--chdir"), co]);
        a.push("--".into());
        a
    }

    /// `program args` ready to spawn, confined: its own process group, stdin
    /// closed, stdout and stderr piped, killed when dropped, the environment
    /// the allowlist, then `env` (the driver's own variables; HOME stays the
    /// sandbox's).
    pub fn command(
        &self,
        program: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> tokio::process::Command {
        let mut cmd = match &self.bwrap {
            Some(bwrap) => {
                let mut c = tokio::process::Command::new(bwrap);
                c.args(self.bwrap_args()).arg(program).args(args);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(program);
                c.args(args);
                c
            }
        };
        let cwd = self.alias.as_deref().unwrap_or(&self.checkout);
        cmd.current_dir(&self.checkout)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // Some agents take their project directory from PWD rather than getcwd.
        cmd.env("PWD", cwd);
        for (k, v) in env {
            let ours = matches!(k.as_str(), "HOME" | "TMPDIR") || k.starts_with("XDG_");
            if !(self.confined() && ours) {
                cmd.env(k, v);
            }
        }
        #[cfg(unix)]
        cmd.process_group(0);
        cmd
    }
}

/// Whether `program` names an executable (a path, or a name on medic's PATH).
pub fn exists(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return std::fs::metadata(program)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    }
    find_on(&std::env::var_os("PATH").unwrap_or_default(), program).is_some()
}

/// `name` in the directories of `path`, if one holds an executable file by that name.
fn find_on(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A PATH directory worth binding: absolute, existing, not HOME itself or
/// above it (the sensitive-name check comes in `add_read_only`).
fn bindable(dir: &Path, home: Option<&Path>) -> Option<PathBuf> {
    // A relative entry (`.`, `bin`) names wherever medic was started: never bound.
    if !dir.is_absolute() {
        return None;
    }
    let dir = dir.canonicalize().ok()?;
    if let Some(home) = home {
        let home = home.canonicalize().unwrap_or_else(|_| home.to_path_buf());
        if home.starts_with(&dir) {
            return None;
        }
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> Policy {
        Policy::default()
    }

    #[test]
    fn without_bubblewrap_it_refuses_and_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        let err = Jail::with_host(
            &on(),
            dir.path(),
            Network::None,
            empty.path().as_os_str(),
            None,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("apt install bubblewrap"), "{text}");
        assert!(text.contains("sandbox = \"none\""), "{text}");
        // With the sandbox off, no bubblewrap is needed.
        let off = Policy {
            mode: SandboxMode::None,
            pass_env: vec![],
        };
        let jail = Jail::with_host(
            &off,
            dir.path(),
            Network::None,
            empty.path().as_os_str(),
            None,
        )
        .unwrap();
        assert!(!jail.confined());
    }

    #[test]
    fn the_argv_confines_and_binds_the_checkout_last() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("bwrap");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        let jail = Jail::with_host(
            &on(),
            dir.path(),
            Network::None,
            bin.path().as_os_str(),
            Some(home.path()),
        )
        .unwrap();
        let args: Vec<String> = jail
            .bwrap_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for flag in [
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--unshare-user",
            "--as-pid-1",
            "--cap-drop ALL",
            "--tmpfs /tmp",
            "--proc /proc",
        ] {
            assert!(joined.contains(flag), "{flag}: {joined}");
        }
        assert!(!joined.contains("--share-net"), "{joined}");
        assert!(!joined.contains("resolv.conf"), "{joined}");
        assert!(!joined.contains(".ssh"), "{joined}");
        let co = dir.path().canonicalize().unwrap().display().to_string();
        let bind = args.iter().position(|a| a == "--bind").unwrap();
        assert_eq!(args[bind + 1], co);
        let tmpfs = args.iter().rposition(|a| a == "--tmpfs").unwrap();
        assert!(
            tmpfs < bind,
            "the checkout is bound over the tmpfs: {joined}"
        );
        assert_eq!(args.last().unwrap(), "--");
        assert!(jail
            .env
            .iter()
            .any(|(k, v)| k == "HOME" && v == SANDBOX_HOME));
    }

    #[test]
    fn pass_env_merges_kind_defaults_and_config() {
        let cfg = AgentConfig {
            pass_env: vec!["MY_KEY".into(), "ANTHROPIC_API_KEY".into()],
            ..AgentConfig::default()
        };
        let p = Policy::from_config(&cfg, &["ANTHROPIC_API_KEY"]);
        assert_eq!(p.pass_env, ["ANTHROPIC_API_KEY", "MY_KEY"]);
        assert_eq!(p.mode, SandboxMode::Bwrap);
    }

    #[test]
    fn the_warning_shows_only_when_a_process_agent_runs_unconfined() {
        let mut cfg = AgentConfig {
            kind: "builtin".into(),
            ..AgentConfig::default()
        };
        assert_eq!(warning(&cfg), None);
        cfg.sandbox = SandboxMode::None;
        assert!(warning(&cfg).unwrap().contains("sandbox = \"none\""));
        cfg.kind = "mitigate".into();
        assert_eq!(warning(&cfg), None);
    }
}
