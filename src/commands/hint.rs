//! The commands medic suggests ("approve and continue with: medic … fix api
//! --yes"), built from the global flags the operator gave, so a hint run as
//! printed reaches the same journal, config and source. Every hint goes
//! through [`Invocation::suggest`]; no call site spells flags by hand.

use crate::setup::Globals;
use std::path::Path;

/// How medic was started: the global flags to repeat in every suggested
/// command, and whether output must be ASCII.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Invocation {
    /// The global flags as words (`--data-dir`, `/tmp/d`, `--demo`, ...).
    globals: Vec<String>,
    /// `--config FILE`, kept apart: a hint for an incident opened with
    /// another config file names that one.
    config: Option<String>,
    /// `--ascii`: progress glyphs and to-do boxes in ASCII.
    pub ascii: bool,
}

impl Invocation {
    /// The flags in `globals`, plus the display flags the headless commands
    /// do not use but the operator gave (`--ascii`, `--theme`, `--color`).
    pub fn new(globals: &Globals, ascii: bool, theme: Option<&str>, color: Option<&str>) -> Self {
        let mut words = Vec::new();
        if let Some(dir) = &globals.data_dir {
            words.push("--data-dir".to_string());
            words.push(path_word(dir));
        }
        if globals.demo {
            words.push("--demo".into());
        }
        if globals.speed != 1.0 {
            words.push("--speed".into());
            words.push(globals.speed.to_string());
        }
        if let Some(theme) = theme {
            words.push("--theme".into());
            words.push(theme.to_string());
        }
        if let Some(color) = color {
            words.push("--color".into());
            words.push(color.to_string());
        }
        if ascii {
            words.push("--ascii".into());
        }
        Invocation {
            globals: words,
            config: globals.config.as_deref().map(path_word),
            ascii,
        }
    }

    /// This invocation, naming `path` as the config file when the operator
    /// gave none (an incident remembers the file it opened with).
    pub fn with_config_of(&self, path: Option<&Path>) -> Invocation {
        let mut out = self.clone();
        if out.config.is_none() {
            out.config = path.map(path_word);
        }
        out
    }

    /// `medic <the operator's global flags> <args>`, each word quoted for a
    /// POSIX shell when it needs it (a service name comes from a label).
    pub fn suggest(&self, args: &[&str]) -> String {
        let mut words = vec!["medic".to_string()];
        if let Some(config) = &self.config {
            words.push("--config".into());
            words.push(config.clone());
        }
        words.extend(self.globals.iter().cloned());
        words.extend(args.iter().map(|a| a.to_string()));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn path_word(p: &Path) -> String {
    p.display().to_string()
}

/// `word` as one POSIX shell word: as is when it holds only characters no
/// shell treats specially, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn every_global_flag_the_operator_gave_is_in_the_hint() {
        let globals = Globals {
            config: Some(PathBuf::from("/etc/medic.toml")),
            demo: true,
            data_dir: Some(PathBuf::from("/tmp/my data")),
            speed: 60.0,
        };
        let inv = Invocation::new(&globals, true, None, Some("never"));
        assert_eq!(
            inv.suggest(&["fix", "api", "--yes"]),
            "medic --config /etc/medic.toml --data-dir '/tmp/my data' --demo --speed 60 --color never --ascii fix api --yes"
        );
    }

    #[test]
    fn defaults_add_nothing_and_the_incidents_config_fills_in() {
        let inv = Invocation::new(
            &Globals {
                speed: 1.0,
                ..Default::default()
            },
            false,
            None,
            None,
        );
        assert_eq!(inv.suggest(&["resume"]), "medic resume");
        let with = inv.with_config_of(Some(Path::new("/srv/m.toml")));
        assert_eq!(
            with.suggest(&["resume"]),
            "medic --config /srv/m.toml resume"
        );
    }

    #[test]
    fn a_hostile_service_name_stays_one_word() {
        assert_eq!(shell_quote("api; rm -rf ~"), "'api; rm -rf ~'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
    }
}
