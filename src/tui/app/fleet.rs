//! The fleet screen's keys: move through the services, open one.

use super::{Action, App, Screen};

impl App {
    /// An action on the fleet table.
    pub(super) fn update_fleet(&mut self, action: Action) -> bool {
        let rows = self.visible_rows().len();
        let next = match action {
            Action::Down => (self.selected + 1).min(rows.saturating_sub(1)),
            Action::Up => self.selected.saturating_sub(1),
            Action::Top => 0,
            Action::Bottom => rows.saturating_sub(1),
            Action::Open => {
                let Some(row) = self.selected_row() else {
                    return false;
                };
                self.focus = Some(row.service.clone());
                self.scroll = 0;
                self.search.clear();
                self.reveal = None;
                self.screen = Screen::Incident;
                return true;
            }
            Action::Back => return false,
            _ => return false,
        };
        std::mem::replace(&mut self.selected, next) != next
    }
}
