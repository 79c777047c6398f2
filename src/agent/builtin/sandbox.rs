//! The checkout as a jail: every path a tool names is resolved here, and
//! anything that would lead outside the checkout is refused.
//!
//! Refused: absolute paths, `..` anywhere, a symlink whose target is outside
//! the checkout (at any component, for files that exist and for the parent
//! of files that do not exist yet), and writes under `.git/`, through a
//! symlink or to a file with other hard links. Writes open with
//! `O_NOFOLLOW`, so a symlink swapped in after the check still cannot
//! redirect them.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path leads outside the checkout.
    #[error("{path}: refused, it leads outside the checkout ({why})")]
    Escape {
        /// The path as the model gave it.
        path: String,
        /// What gave it away.
        why: &'static str,
    },
    /// The path is inside the checkout but off-limits for writing.
    #[error("{path}: refused, {why}")]
    ReadOnly {
        /// The path as the model gave it.
        path: String,
        /// Why.
        why: &'static str,
    },
    /// The file system said no.
    #[error("{path}: {source}")]
    Io {
        /// The path as the model gave it.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The checkout root, canonicalized once.
#[derive(Debug, Clone)]
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    /// A sandbox rooted at `checkout` (which must exist).
    pub fn new(checkout: &Path) -> io::Result<Sandbox> {
        Ok(Sandbox {
            root: checkout.canonicalize()?,
        })
    }

    /// The canonical checkout root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The relative, normalized form of `path` (`.` components dropped), or
    /// a refusal for absolute paths and `..`.
    fn relative(&self, path: &str) -> Result<PathBuf, PathError> {
        let escape = |why| PathError::Escape {
            path: path.to_string(),
            why,
        };
        if path.contains('\0') {
            return Err(escape("it contains a NUL byte"));
        }
        let mut rel = PathBuf::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::CurDir => {}
                Component::ParentDir => return Err(escape("`..` is not allowed")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(escape("absolute paths are not allowed"))
                }
            }
        }
        Ok(rel)
    }

    /// Checks every existing prefix of `rel`: a symlink among them must
    /// resolve inside the root. Returns the canonical path of the longest
    /// existing prefix and the components that do not exist yet.
    fn walk(&self, path: &str, rel: &Path) -> Result<(PathBuf, Vec<PathBuf>), PathError> {
        let mut cur = self.root.clone();
        let mut comps = rel.components().peekable();
        while let Some(c) = comps.peek() {
            let next = cur.join(c);
            match std::fs::symlink_metadata(&next) {
                Ok(meta) => {
                    cur = if meta.file_type().is_symlink() {
                        let target = next.canonicalize().map_err(|e| {
                            if e.kind() == io::ErrorKind::NotFound {
                                // A dangling link: where it points cannot be checked.
                                PathError::Escape {
                                    path: path.to_string(),
                                    why: "a symlink on the way does not resolve",
                                }
                            } else {
                                self.io(path, e)
                            }
                        })?;
                        if !target.starts_with(&self.root) {
                            return Err(PathError::Escape {
                                path: path.to_string(),
                                why: "a symlink on the way points out of it",
                            });
                        }
                        target
                    } else {
                        next
                    };
                    comps.next();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(self.io(path, e)),
            }
        }
        let missing = comps.map(|c| PathBuf::from(c.as_os_str())).collect();
        Ok((cur, missing))
    }

    /// Resolves `path` for reading: it must exist and stay inside.
    pub fn read_path(&self, path: &str) -> Result<PathBuf, PathError> {
        let rel = self.relative(path)?;
        let (resolved, missing) = self.walk(path, &rel)?;
        if !missing.is_empty() {
            return Err(self.io(path, io::Error::from(io::ErrorKind::NotFound)));
        }
        Ok(resolved)
    }

    /// Resolves `path` for writing: inside, not under `.git/`, not the root,
    /// not a symlink itself. Parent directories that do not exist yet are
    /// created (each one inside the already checked prefix).
    pub fn write_path(&self, path: &str) -> Result<PathBuf, PathError> {
        let rel = self.relative(path)?;
        if rel.as_os_str().is_empty() {
            return Err(PathError::ReadOnly {
                path: path.to_string(),
                why: "it is the checkout itself, not a file",
            });
        }
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return Err(PathError::ReadOnly {
                path: path.to_string(),
                why: "`.git` is off-limits (medic commits, not the agent)",
            });
        }
        let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let (parent, missing) = self.walk(path, parent_rel)?;
        let mut dir = parent;
        for m in missing {
            dir.push(m);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.io(path, e)),
            }
        }
        let target = dir.join(name);
        if let Ok(meta) = std::fs::symlink_metadata(&target) {
            if meta.file_type().is_symlink() {
                return Err(PathError::ReadOnly {
                    path: path.to_string(),
                    why: "it is a symlink; write to the file it names instead",
                });
            }
            if meta.is_dir() {
                return Err(PathError::ReadOnly {
                    path: path.to_string(),
                    why: "it is a directory",
                });
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                // A hard link may share its inode with a file outside the checkout.
                if meta.nlink() > 1 {
                    return Err(PathError::ReadOnly {
                        path: path.to_string(),
                        why: "it has other hard links, which may be outside the checkout",
                    });
                }
            }
        }
        Ok(target)
    }

    /// Writes `content` to a path [`Sandbox::write_path`] resolved, without
    /// following a symlink at the last component.
    pub fn write(&self, path: &str, target: &Path, content: &[u8]) -> Result<(), PathError> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW);
        }
        let mut f = opts.open(target).map_err(|e| self.io(path, e))?;
        f.write_all(content).map_err(|e| self.io(path, e))
    }

    /// `abs` (a path under the root) relative to the root, `/`-separated.
    pub fn display(&self, abs: &Path) -> String {
        let rel = abs.strip_prefix(&self.root).unwrap_or(abs);
        let s = rel.to_string_lossy().replace('\\', "/");
        if s.is_empty() {
            ".".into()
        } else {
            s
        }
    }

    fn io(&self, path: &str, source: io::Error) -> PathError {
        PathError::Io {
            path: path.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_ways_out() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), dir.path().join("src/out")).unwrap();
        let sb = Sandbox::new(dir.path()).unwrap();
        for p in [
            "../x",
            "/etc/passwd",
            "src/../../x",
            "src/out/secret",
            "src/out/new",
        ] {
            assert!(
                matches!(
                    sb.read_path(p),
                    Err(PathError::Escape { .. }) | Err(PathError::Io { .. })
                ),
                "{p}"
            );
            assert!(sb.write_path(p).is_err(), "{p}");
        }
        assert!(matches!(
            sb.write_path(".git/config"),
            Err(PathError::ReadOnly { .. })
        ));
        let p = sb.write_path("src/new/dir/file.txt").unwrap();
        assert!(p.starts_with(sb.root()));
        assert_eq!(sb.display(&p), "src/new/dir/file.txt");
    }
}
