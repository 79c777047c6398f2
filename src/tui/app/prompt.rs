//! The prompt's effects on the state (`/` filter and search, `:` palette)
//! and the plan's in-place editor: typing narrows the fleet or moves the
//! search as it goes; a palette line runs when accepted.

use super::{Action, App, Command, Input, InputKind, Screen};
use crate::tui::input::{self, PaletteCommand};
use crate::tui::theme::Theme;

impl App {
    /// An action on the prompt.
    pub(super) fn update_prompt(&mut self, action: Action) -> bool {
        match action {
            Action::StartInput(kind) => {
                let kind = match (kind, self.screen) {
                    (InputKind::Command, _) => InputKind::Command,
                    (_, Screen::Fleet) => InputKind::Filter,
                    (_, Screen::Incident) => InputKind::Search,
                    _ => return false,
                };
                let text = match kind {
                    InputKind::Filter => self.filter.clone(),
                    InputKind::Search => self.search.clone(),
                    InputKind::Command => String::new(),
                };
                self.input = Some(Input { kind, text });
                true
            }
            Action::InputChar(c) => self.edit_input(|t| t.push(c)),
            Action::InputBackspace => self.edit_input(|t| {
                t.pop();
            }),
            Action::InputCancel => {
                let Some(input) = self.input.take() else {
                    return false;
                };
                match input.kind {
                    InputKind::Filter => self.set_filter(String::new()),
                    InputKind::Search => self.search.clear(),
                    InputKind::Command => {}
                }
                true
            }
            Action::InputSubmit => {
                let Some(input) = self.input.take() else {
                    return false;
                };
                if input.kind == InputKind::Command {
                    self.run_palette(&input.text);
                } else if input.kind == InputKind::Search {
                    self.search_hit = 0;
                    self.search_jump = !self.search.is_empty();
                }
                true
            }
            _ => false,
        }
    }

    /// An action on the plan's in-place editor (`i`).
    pub(super) fn update_editor(&mut self, action: Action) -> bool {
        match action {
            Action::EditInPlace => match &self.work {
                Some(w) if w.approved => {
                    self.notice = Some("approved plans are not edited; cancel (c) first".into());
                    true
                }
                Some(crate::tui::action::WorkView {
                    plan: Some(plan), ..
                }) => {
                    let text = crate::plan::markdown::render(plan);
                    // The view draws its frame in the theme of the moment.
                    let area =
                        ratatui_textarea::TextArea::new(text.lines().map(str::to_string).collect());
                    self.editing = Some(area);
                    true
                }
                _ => false,
            },
            Action::EditKey(key) => match &mut self.editing {
                Some(area) => {
                    area.input(key);
                    true
                }
                None => false,
            },
            Action::EditDiscard => {
                self.editor_error = None;
                self.notice = Some("edit dropped; the plan is as it was".into());
                self.editing.take().is_some()
            }
            Action::EditSave => {
                let (Some(area), Some(w)) = (&self.editing, &mut self.work) else {
                    return false;
                };
                let markdown = area.lines().join("\n");
                match crate::plan::markdown::parse(&markdown) {
                    Ok(plan) => {
                        w.plan = Some(plan);
                        self.outbox.push(Command::EditPlan {
                            incident: w.incident.clone(),
                            markdown,
                        });
                        self.editing = None;
                        self.editor_error = None;
                    }
                    // Keep the editor open with the text: nothing typed is lost.
                    Err(e) => self.editor_error = Some(format!("not saved: {e}")),
                }
                true
            }
            _ => false,
        }
    }

    pub(in crate::tui) fn edit_input(&mut self, f: impl FnOnce(&mut String)) -> bool {
        let Some(input) = &mut self.input else {
            return false;
        };
        f(&mut input.text);
        let text = input.text.clone();
        // Filter and search follow the typing, so the operator sees the effect at once.
        match input.kind {
            InputKind::Filter => self.set_filter(text),
            InputKind::Search => self.search = text,
            InputKind::Command => {}
        }
        true
    }

    pub(in crate::tui) fn set_filter(&mut self, filter: String) {
        let selected = self.selected_row().map(|r| r.service.clone());
        self.filter = filter;
        let visible = self.visible_rows();
        self.selected = selected
            .and_then(|s| visible.iter().position(|r| r.service == s))
            .unwrap_or(0);
    }

    pub(in crate::tui) fn run_palette(&mut self, line: &str) {
        match input::parse(line) {
            Ok(PaletteCommand::Quit) => self.quit = true,
            Ok(PaletteCommand::Incidents) => {
                self.outbox.push(Command::ListIncidents);
                self.screen = Screen::Incidents;
            }
            Ok(PaletteCommand::Fleet) => self.screen = Screen::Fleet,
            Ok(PaletteCommand::Help) => {
                if self.screen != Screen::Help {
                    self.previous = self.screen;
                }
                self.screen = Screen::Help;
            }
            Ok(PaletteCommand::Ascii) => self.ascii = !self.ascii,
            Ok(PaletteCommand::Theme(name)) => match Theme::builtin(&name) {
                Some(t) => {
                    self.theme = t;
                    self.palette_theme = Some(name.clone());
                    self.notice = Some(format!("theme {name}"));
                }
                None => {
                    self.notice = Some(format!(
                        "no theme {name}; built in: {}",
                        crate::tui::theme::names().join(", ")
                    ))
                }
            },
            Err(e) => self.notice = Some(e),
        }
    }
}
