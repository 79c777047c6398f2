//! Where the operator was: the view, the selected service, the scroll, the
//! filter, the incident at hand and the theme. Kept in the journal's `ui`
//! tree so `medic` started again lands where it was left.

use super::app::Screen;
use serde::{Deserialize, Serialize};

/// The journal key of the UI state.
pub const KEY: &str = "tui";

/// The part of the TUI's state that survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UiState {
    /// The screen showing (help is never restored: it was a glance).
    pub screen: Screen,
    /// The selected service in the fleet.
    pub selected: Option<String>,
    /// The service whose incident is open.
    pub focus: Option<String>,
    /// Scroll of the incident or plan pane.
    pub scroll: u16,
    /// The fleet filter.
    pub filter: String,
    /// The log search in the incident view.
    pub search: String,
    /// The incident being planned or run.
    pub incident: Option<String>,
    /// The theme's name, when chosen in the palette.
    pub theme: Option<String>,
}
