//! The plan screen's keys: approve (with its confirm), edit, regenerate,
//! diff, cancel, push, copy; and its scroll. The plan's actions act on the
//! incident at hand whatever the screen, so the reducer can be fed them.

use super::{Action, App, Command, Screen, WorkView};

/// Columns one `h`/`l` moves the diff.
const HSCROLL_STEP: u16 = 8;

impl App {
    /// Scroll and back on the plan screen.
    pub(super) fn update_plan_screen(&mut self, action: Action) -> bool {
        match action {
            Action::NextPane => {
                self.agent_focus = !self.agent_focus;
                // Start where the pane showed it: at the newest entries.
                self.agent_scroll = 0;
                true
            }
            Action::Down | Action::Up | Action::Top | Action::Bottom if self.agent_focus => {
                // Counted back from the newest entry, which the pane shows first.
                let rows = self.agent_rows();
                let now = self.agent_scroll.min(rows);
                let next = match action {
                    Action::Up => now.saturating_add(1).min(rows),
                    Action::Down => now.saturating_sub(1),
                    Action::Top => rows,
                    _ => 0,
                };
                std::mem::replace(&mut self.agent_scroll, next) != next
            }
            Action::Down | Action::Up | Action::Top | Action::Bottom => self.scroll_by(&action),
            Action::Left | Action::Right if self.show_diff => {
                let next = if action == Action::Right {
                    self.hscroll.saturating_add(HSCROLL_STEP)
                } else {
                    self.hscroll.saturating_sub(HSCROLL_STEP)
                };
                std::mem::replace(&mut self.hscroll, next) != next
            }
            Action::Back if self.show_citations => {
                self.show_citations = false;
                true
            }
            Action::Back if self.show_diff => {
                self.show_diff = false;
                self.scroll = 0;
                true
            }
            Action::Back if self.agent_focus => {
                self.agent_focus = false;
                true
            }
            Action::Back => {
                self.scroll = 0;
                self.screen = if self.focus.is_some() {
                    Screen::Incident
                } else {
                    Screen::Fleet
                };
                true
            }
            _ => false,
        }
    }

    /// The rows the agent pane can scroll through (an upper bound: the view
    /// clamps to what fits).
    fn agent_rows(&self) -> u16 {
        let rows = self.work.as_ref().map_or(0, |w| {
            // A generous width: only the count matters, and each entry is one row.
            crate::tui::views::agent::activity(self, w, 200, &self.theme).len()
        });
        u16::try_from(rows).unwrap_or(u16::MAX)
    }

    /// An action on the incident's plan and run.
    pub(super) fn update_work(&mut self, action: Action) -> bool {
        match action {
            Action::Approve => match &mut self.work {
                Some(w) if w.plan.is_some() && !w.approved => {
                    w.confirm = true;
                    true
                }
                _ => false,
            },
            Action::Confirm => self.confirm(),
            Action::Deny => match &mut self.work {
                Some(w) if w.confirm || w.held_confirm => {
                    w.confirm = false;
                    w.held_confirm = false;
                    true
                }
                _ => false,
            },
            Action::Edit => match &self.work {
                Some(w) if w.plan.is_some() && !w.approved => {
                    self.edit_requested = true;
                    true
                }
                Some(w) if w.approved => {
                    self.notice = Some("approved plans are not edited; cancel (c) first".into());
                    true
                }
                _ => false,
            },
            Action::Regenerate => match &mut self.work {
                Some(w) if !w.approved => {
                    w.plan = None;
                    w.status = "making a new plan…".into();
                    self.outbox.push(Command::Regenerate(w.incident.clone()));
                    true
                }
                Some(_) => {
                    self.notice =
                        Some("approved plans are not regenerated; cancel (c) first".into());
                    true
                }
                None => false,
            },
            Action::ToggleDiff => match &self.work {
                Some(w) if w.diff.is_some() => {
                    self.show_diff = !self.show_diff;
                    self.scroll = 0;
                    self.hscroll = 0;
                    true
                }
                Some(_) => {
                    self.notice = Some("no diff yet: the agent has not run".into());
                    true
                }
                None => false,
            },
            Action::Cancel => self.cancel(),
            Action::Publish => self.publish(),
            Action::Merge => match &mut self.work {
                Some(w) if w.pr.is_some() => {
                    w.status = "merging the pull request, then watching the change…".into();
                    self.outbox.push(Command::Merge(w.incident.clone()));
                    true
                }
                Some(_) => {
                    self.notice = Some("no pull request to merge yet".into());
                    true
                }
                None => false,
            },
            Action::Copy => {
                let Some(link) = self.work.as_ref().and_then(|w| w.pr.clone()) else {
                    self.notice = Some("no pull request yet: nothing to copy".into());
                    return true;
                };
                self.notice = Some(format!("copied {link}"));
                self.copy_requested = Some(link);
                true
            }
            Action::ToggleCitations => match &self.work {
                Some(WorkView { plan: Some(_), .. }) => {
                    self.show_citations = !self.show_citations;
                    true
                }
                _ => false,
            },
            a @ (Action::EditInPlace
            | Action::EditKey(_)
            | Action::EditSave
            | Action::EditDiscard) => self.update_editor(a),
            _ => false,
        }
    }

    /// `y` on a confirm: the approval, or the held paths' second yes.
    fn confirm(&mut self) -> bool {
        match &mut self.work {
            // The second yes: the held-back paths, listed, then pushed.
            Some(w) if w.held_confirm => {
                w.held_confirm = false;
                w.held.clear();
                w.status = "pushing (held paths confirmed) and opening the pull request…".into();
                self.show_diff = false;
                self.outbox.push(Command::PublishHeld(w.incident.clone()));
                true
            }
            Some(w) if w.confirm => {
                w.confirm = false;
                // No second approval while this one travels; the status
                // says "approved" only once the journal has it.
                w.approved = true;
                self.show_diff = false;
                w.status = "approval sent: waiting for the journal…".into();
                let plan_digest = w
                    .plan
                    .as_ref()
                    .map(crate::workflow::incident::plan_digest)
                    .unwrap_or_default();
                self.outbox.push(Command::Approve {
                    incident: w.incident.clone(),
                    plan_digest,
                });
                true
            }
            _ => false,
        }
    }

    /// `c`: stop what is in flight (agent, push, pull request) and keep the
    /// change from leaving the machine; or say why there is nothing to stop.
    fn cancel(&mut self) -> bool {
        let why = match &mut self.work {
            None => return false,
            Some(w) if w.pr.is_some() => {
                "the pull request is open: close it on the forge; medic does not undo it"
            }
            Some(w) if w.cancelled => "already cancelled",
            Some(w) if !w.approved => {
                "nothing runs before approval: r for a new plan, or Esc to leave it"
            }
            Some(w) => {
                w.status = "cancelling: nothing will be pushed…".into();
                self.outbox.push(Command::Cancel(w.incident.clone()));
                return true;
            }
        };
        self.notice = Some(why.into());
        true
    }

    /// `p`: push and open the pull request, after the diff (held paths get a
    /// second screen first).
    fn publish(&mut self) -> bool {
        match &mut self.work {
            Some(w) if w.cancelled => {
                self.notice = Some("the run was cancelled: nothing is pushed".into());
                true
            }
            // Held-back paths: nothing is pushed before the second screen's yes.
            Some(w) if w.approved && w.pr.is_none() && w.diff.is_some() && !w.held.is_empty() => {
                w.held_confirm = true;
                true
            }
            Some(w) if w.approved && w.pr.is_none() && w.diff.is_some() => {
                w.status = "pushing and opening the pull request…".into();
                self.show_diff = false;
                self.outbox.push(Command::Publish(w.incident.clone()));
                true
            }
            Some(w) if w.pr.is_some() => {
                self.notice = Some("the pull request is already open".into());
                true
            }
            Some(_) => {
                self.notice =
                    Some("nothing to push yet: approve, then let the agent finish".into());
                true
            }
            None => false,
        }
    }
}
