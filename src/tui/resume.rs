//! Where the operator was: the view, the selected service, the scroll, the
//! filter, the incident at hand and the theme. Kept in the journal's `ui`
//! tree so `medic` started again lands where it was left.

pub use super::action::UiState;

/// The journal key of the UI state.
pub const KEY: &str = "tui";
