//! The terminal UI. Renders state and sends commands; never does I/O itself.

use crate::setup::Setup;

/// Run the TUI until the operator quits.
pub async fn run(_setup: Setup) -> anyhow::Result<()> {
    Ok(())
}
