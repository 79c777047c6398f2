//! The incident screen's keys (scroll the evidence, search its logs, plan a
//! fix) and the `:incidents` list's.

use super::{Action, App, Command, Screen};
use crate::model::ServiceId;

impl App {
    /// An action on one service's incident.
    pub(super) fn update_incident(&mut self, action: Action) -> bool {
        match action {
            Action::Down | Action::Up | Action::Top | Action::Bottom => self.scroll_by(&action),
            Action::Plan => {
                let Some(flag) = self
                    .focus
                    .as_ref()
                    .and_then(|s| self.fleet.as_ref()?.flag_of(s))
                    .cloned()
                else {
                    self.notice = Some("no open flag here: nothing to plan".into());
                    return true;
                };
                if self.work.as_ref().is_none_or(|w| w.service != flag.service) {
                    self.work = None;
                }
                self.outbox.push(Command::Prepare(flag));
                self.screen = Screen::Work;
                true
            }
            Action::NextMatch | Action::PrevMatch if !self.search.is_empty() => {
                self.search_hit = if action == Action::NextMatch {
                    self.search_hit.wrapping_add(1)
                } else {
                    self.search_hit.wrapping_sub(1)
                };
                self.search_jump = true;
                true
            }
            Action::RevealSecret => {
                let count = self.secrets_in_evidence();
                self.reveal = match self.reveal {
                    _ if count == 0 => None,
                    None => Some(0),
                    Some(i) if i + 1 < count => Some(i + 1),
                    Some(_) => None,
                };
                if count == 0 {
                    self.notice = Some("no secret in this evidence".into());
                }
                true
            }
            Action::Back if self.reveal.is_some() => {
                self.reveal = None;
                true
            }
            Action::Back if !self.search.is_empty() => {
                self.search.clear();
                true
            }
            Action::Back => {
                self.scroll = 0;
                self.screen = Screen::Fleet;
                true
            }
            _ => false,
        }
    }

    /// Scroll the pane on screen (the fleet selection never moves here).
    pub(super) fn scroll_by(&mut self, action: &Action) -> bool {
        self.search_jump = false;
        let next = match action {
            Action::Down => self.scroll.saturating_add(1),
            Action::Up => self.scroll.saturating_sub(1),
            Action::Top => 0,
            Action::Bottom => self.content_lines().saturating_sub(1),
            _ => return false,
        };
        std::mem::replace(&mut self.scroll, next) != next
    }

    /// Lines of what the scrolled pane shows, so `G` lands on the last one.
    fn content_lines(&self) -> u16 {
        let lines = match self.screen {
            Screen::Work => match &self.work {
                Some(w) if self.show_diff => w.diff.as_deref().map_or(0, |d| d.lines().count()),
                Some(w) => w
                    .plan
                    .as_ref()
                    .map_or(0, |p| crate::plan::markdown::render(p).lines().count()),
                None => 0,
            },
            _ => self
                .focus
                .as_ref()
                .and_then(|s| self.fleet.as_ref()?.evidence_of(s))
                .map_or(0, |e| {
                    e.items
                        .iter()
                        .map(|i| 2 + i.detail.lines().count())
                        .sum::<usize>()
                }),
        };
        u16::try_from(lines).unwrap_or(u16::MAX)
    }

    /// An action on the `:incidents` list.
    pub(super) fn update_incidents(&mut self, action: Action) -> bool {
        let rows = self.incidents.len();
        let sel = &mut self.incident_selected;
        let next = match action {
            Action::Down => (*sel + 1).min(rows.saturating_sub(1)),
            Action::Up => sel.saturating_sub(1),
            Action::Top => 0,
            Action::Bottom => rows.saturating_sub(1),
            Action::Open => {
                let Some(row) = self.incidents.get(*sel).cloned() else {
                    return false;
                };
                self.focus = Some(ServiceId::from(row.service.as_str()));
                self.outbox.push(Command::Show(row.id));
                self.screen = Screen::Work;
                self.scroll = 0;
                return true;
            }
            Action::Back => {
                self.screen = Screen::Fleet;
                return true;
            }
            _ => return false,
        };
        std::mem::replace(sel, next) != next
    }
}
