//! Colours by meaning (ok, warn, crit, muted, accent, selection, border,
//! border_focus, match), read from `themes/*.toml`.
//!
//! The built-in themes are embedded at compile time: `default` (the 16 ANSI
//! colours, so it follows the user's palette), `dark`, `light`,
//! `high-contrast` (no red/green-only distinctions) and `mono` (modifiers
//! only, chosen by `NO_COLOR` or `--color never`). No theme assumes
//! truecolor: SSH drops `COLORTERM`, so colours are ANSI names or 256-colour
//! indexes. A user theme file overrides only the keys it sets. Status is
//! never shown by colour alone: glyphs and words carry it too.

use crate::model::AlertState;
use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in themes, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// Styles by meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name (built-in name or file path).
    pub name: String,
    /// Healthy.
    pub ok: Style,
    /// Pending, attention.
    pub warn: Style,
    /// Firing, broken.
    pub crit: Style,
    /// Secondary text.
    pub muted: Style,
    /// Titles, highlights.
    pub accent: Style,
    /// The selected row.
    pub selection: Style,
    /// Borders of panes.
    pub border: Style,
    /// The border of the pane that has the keys.
    pub border_focus: Style,
    /// A search hit in the logs.
    pub matched: Style,
}

/// `--color`: whether medic may use colour at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    /// Colour even with `NO_COLOR`.
    Always,
    /// Modifiers only (the mono theme).
    Never,
}

impl std::str::FromStr for ColorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ColorChoice::Auto),
            "always" => Ok(ColorChoice::Always),
            "never" => Ok(ColorChoice::Never),
            _ => Err(format!("--color {s}: expected auto, always or never")),
        }
    }
}

/// A theme that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("theme {origin}: {why}")]
pub struct ThemeError {
    /// The file or built-in name.
    pub origin: String,
    /// What is wrong, and what would be right.
    pub why: String,
}

const KEYS: &[&str] = &[
    "ok",
    "warn",
    "crit",
    "muted",
    "accent",
    "selection",
    "border",
    "border_focus",
    "match",
];

impl Theme {
    /// The built-in theme `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let base = Theme::blank(name);
        Some(base.overlay(text, name).expect("built-in themes parse"))
    }

    /// ANSI 16 colours.
    pub fn default_colors() -> Theme {
        Theme::builtin("default").expect("default is built in")
    }

    /// Modifiers only, for `NO_COLOR` and monochrome terminals.
    pub fn mono() -> Theme {
        Theme::builtin("mono").expect("mono is built in")
    }

    /// `mono` when `NO_COLOR` is set (to anything non-empty), else the default.
    pub fn from_env() -> Theme {
        Theme::choose(None, ColorChoice::Auto).unwrap_or_else(|_| Theme::default_colors())
    }

    /// The theme for `--theme SPEC --color CHOICE`. SPEC is a built-in name
    /// or a TOML file; a file may say `inherits = "dark"` and sets only the
    /// keys it wants to change.
    pub fn choose(spec: Option<&str>, color: ColorChoice) -> Result<Theme, ThemeError> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let colourless = match color {
            ColorChoice::Never => true,
            ColorChoice::Always => false,
            ColorChoice::Auto => no_color,
        };
        if colourless {
            return Ok(Theme::mono());
        }
        match spec {
            None => Ok(Theme::default_colors()),
            Some(name) if Theme::builtin(name).is_some() => Ok(Theme::builtin(name).unwrap()),
            Some(path) if path.ends_with(".toml") || Path::new(path).exists() => {
                Theme::from_file(Path::new(path))
            }
            Some(other) => Err(ThemeError {
                origin: other.to_string(),
                why: format!(
                    "no such theme; built in: {}, or a path to a .toml file",
                    names().join(", ")
                ),
            }),
        }
    }

    /// A user theme file over the theme it inherits (`default` unless it says).
    pub fn from_file(path: &Path) -> Result<Theme, ThemeError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ThemeError {
            origin: origin.clone(),
            why: e.to_string(),
        })?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ThemeError {
            origin: origin.clone(),
            why: e.to_string(),
        })?;
        let base = match table.get("inherits") {
            None => Theme::default_colors(),
            Some(toml::Value::String(n)) => Theme::builtin(n).ok_or_else(|| ThemeError {
                origin: origin.clone(),
                why: format!("inherits = \"{n}\": built in are {}", names().join(", ")),
            })?,
            Some(_) => {
                return Err(ThemeError {
                    origin,
                    why: "inherits must be a theme name".into(),
                })
            }
        };
        let mut theme = base.overlay(&text, &origin)?;
        theme.name = origin;
        Ok(theme)
    }

    fn blank(name: &str) -> Theme {
        Theme {
            name: name.to_string(),
            ok: Style::new(),
            warn: Style::new(),
            crit: Style::new(),
            muted: Style::new(),
            accent: Style::new(),
            selection: Style::new(),
            border: Style::new(),
            border_focus: Style::new(),
            matched: Style::new(),
        }
    }

    /// This theme with the keys `text` sets replaced.
    fn overlay(mut self, text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let err = |why: String| ThemeError {
            origin: origin.to_string(),
            why,
        };
        let table: BTreeMap<String, toml::Value> =
            toml::from_str(text).map_err(|e| err(e.to_string()))?;
        for (key, value) in table {
            if key == "inherits" {
                continue;
            }
            let toml::Value::String(spec) = value else {
                return Err(err(format!("{key}: a style is a string like \"red bold\"")));
            };
            let style =
                parse_style(&spec).map_err(|why| err(format!("{key} = \"{spec}\": {why}")))?;
            let slot = match key.as_str() {
                "ok" => &mut self.ok,
                "warn" => &mut self.warn,
                "crit" => &mut self.crit,
                "muted" => &mut self.muted,
                "accent" => &mut self.accent,
                "selection" => &mut self.selection,
                "border" => &mut self.border,
                "border_focus" => &mut self.border_focus,
                "match" => &mut self.matched,
                _ => {
                    return Err(err(format!(
                        "unknown key `{key}`; a theme sets {}",
                        KEYS.join(", ")
                    )))
                }
            };
            *slot = style;
        }
        Ok(self)
    }

    /// The style for an alert state.
    pub fn state(&self, s: AlertState) -> Style {
        match s {
            AlertState::Firing => self.crit,
            AlertState::Pending => self.warn,
            AlertState::Inactive | AlertState::Resolved => self.ok,
        }
    }
}

/// The built-in theme names.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// `"red bold"`, `"black on yellow"`, `"208 underlined"`, `"plain"`.
fn parse_style(spec: &str) -> Result<Style, String> {
    let mut style = Style::new();
    let mut words = spec.split_whitespace().peekable();
    let mut fg_set = false;
    while let Some(w) = words.next() {
        let w = w.to_ascii_lowercase();
        let modifier = match w.as_str() {
            "plain" => Some(Modifier::empty()),
            "bold" => Some(Modifier::BOLD),
            "dim" => Some(Modifier::DIM),
            "italic" => Some(Modifier::ITALIC),
            "underlined" | "underline" => Some(Modifier::UNDERLINED),
            "reversed" | "reverse" => Some(Modifier::REVERSED),
            _ => None,
        };
        if let Some(m) = modifier {
            style = style.add_modifier(m);
        } else if w == "on" {
            let bg = words.next().ok_or("`on` needs a colour after it")?;
            style = style.bg(parse_color(bg)?);
        } else if !fg_set {
            style = style.fg(parse_color(&w)?);
            fg_set = true;
        } else {
            return Err(format!(
                "`{w}`: one foreground colour only (use `on` for the background)"
            ));
        }
    }
    Ok(style)
}

fn parse_color(word: &str) -> Result<Color, String> {
    let w = word.to_ascii_lowercase();
    Ok(match w.as_str() {
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        n if n.starts_with('#') => {
            return Err(format!(
                "`{word}`: truecolor is not assumed (SSH drops COLORTERM); use a colour name or a 256-colour index"
            ))
        }
        n => match n.parse::<u8>() {
            Ok(i) => Color::Indexed(i),
            Err(_) => return Err(format!("`{word}` is not a colour or modifier")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_sets_every_key() {
        for (name, text) in BUILTIN {
            let t = Theme::builtin(name).unwrap();
            let table: toml::Table = text.parse().unwrap();
            for k in KEYS {
                assert!(table.contains_key(*k), "{name} misses {k}");
            }
            assert_eq!(t.name, *name);
        }
        assert_eq!(
            Theme::mono().crit,
            Style::new().add_modifier(Modifier::BOLD)
        );
        assert_eq!(
            Theme::default_colors().crit,
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        );
    }

    #[test]
    fn mono_and_high_contrast_never_rely_on_colour_alone() {
        for name in ["mono", "high-contrast"] {
            let t = Theme::builtin(name).unwrap();
            for s in [t.warn, t.crit] {
                assert!(!s.add_modifier.is_empty(), "{name}: {s:?} needs a modifier");
            }
        }
        let hc = Theme::builtin("high-contrast").unwrap();
        for s in [hc.ok, hc.warn, hc.crit] {
            assert!(
                !matches!(
                    s.fg,
                    Some(Color::Red | Color::Green | Color::LightRed | Color::LightGreen)
                ),
                "high-contrast uses red/green: {s:?}"
            );
        }
    }

    #[test]
    fn a_user_theme_overrides_only_what_it_sets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "inherits = \"dark\"\ncrit = \"magenta bold\"\n").unwrap();
        let t = Theme::from_file(&path).unwrap();
        let dark = Theme::builtin("dark").unwrap();
        assert_eq!(
            t.crit,
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
        );
        assert_eq!(t.ok, dark.ok);
        assert_eq!(t.selection, dark.selection);
    }

    #[test]
    fn bad_themes_say_what_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "crit = \"#ff0000\"\n").unwrap();
        let e = Theme::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("bad.toml") && e.contains("crit") && e.contains("truecolor"),
            "{e}"
        );
        std::fs::write(&path, "critical = \"red\"\n").unwrap();
        let e = Theme::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown key `critical`"), "{e}");
        let e = Theme::choose(Some("solarized"), ColorChoice::Always)
            .unwrap_err()
            .to_string();
        assert!(e.contains("high-contrast"), "{e}");
        assert_eq!(
            Theme::choose(Some("dark"), ColorChoice::Never)
                .unwrap()
                .name,
            "mono",
            "--color never wins"
        );
    }
}
