//! The one-line prompt at the bottom of the screen: the fleet filter (`/`),
//! the log search (`/` in an incident) and the command palette (`:`).
//! Parsing a palette line gives a [`PaletteCommand`]; its effects on the
//! state are the reducer's (the `impl App` below), never I/O.

pub use super::action::{Input, InputKind};

/// A command typed in the palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaletteCommand {
    /// `:q`, `:quit`.
    Quit,
    /// `:incidents`: the journal's incidents.
    Incidents,
    /// `:fleet`: back to the fleet.
    Fleet,
    /// `:help`.
    Help,
    /// `:theme NAME`.
    Theme(String),
    /// `:ascii` toggles ASCII glyphs.
    Ascii,
}

/// Every palette command, for completion hints and the help screen.
pub const PALETTE: &[(&str, &str)] = &[
    ("incidents", "the journal's incidents"),
    ("fleet", "back to the fleet"),
    ("theme NAME", "dark, light, mono, …"),
    ("ascii", "toggle ASCII glyphs"),
    ("help", "keys"),
    ("q", "quit"),
];

/// Parse a palette line (without the `:`).
pub fn parse(line: &str) -> Result<PaletteCommand, String> {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return Err("type a command: incidents, fleet, theme NAME, ascii, help, q".into());
    };
    let arg = words.next();
    Ok(match (cmd, arg) {
        ("q" | "quit" | "q!", None) => PaletteCommand::Quit,
        ("incidents" | "inc", None) => PaletteCommand::Incidents,
        ("fleet", None) => PaletteCommand::Fleet,
        ("help" | "h", None) => PaletteCommand::Help,
        ("ascii", None) => PaletteCommand::Ascii,
        ("theme", Some(name)) => PaletteCommand::Theme(name.to_string()),
        ("theme", None) => {
            return Err(format!(
                "theme needs a name: {}",
                super::theme::names().join(", ")
            ))
        }
        _ => {
            let known: Vec<&str> = PALETTE
                .iter()
                .map(|(c, _)| c.split(' ').next().unwrap_or(c))
                .collect();
            let close = known
                .iter()
                .find(|k| k.starts_with(cmd) || cmd.starts_with(**k));
            return Err(match close {
                Some(k) => format!(":{line}: unknown command; did you mean :{k}?"),
                None => format!(":{line}: unknown command; try {}", known.join(", ")),
            });
        }
    })
}

/// Whether `haystack` contains `needle`, ignoring ASCII case.
pub fn contains(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_commands_parse_and_typos_get_a_suggestion() {
        assert_eq!(parse("q"), Ok(PaletteCommand::Quit));
        assert_eq!(parse(" incidents "), Ok(PaletteCommand::Incidents));
        assert_eq!(
            parse("theme mono"),
            Ok(PaletteCommand::Theme("mono".into()))
        );
        assert!(parse("theme").unwrap_err().contains("high-contrast"));
        assert!(parse("incident").unwrap_err().contains(":incidents"));
        assert!(parse("zzz").unwrap_err().contains("unknown command"));
        assert!(parse("").is_err());
    }

    #[test]
    fn matching_ignores_case() {
        assert!(contains("ERROR upstream timeout", "Upstream"));
        assert!(contains("anything", ""));
        assert!(!contains("api", "web"));
    }
}
