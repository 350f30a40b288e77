//! The `?` overlay for the screen it was opened on, generated from the
//! keybinding table: one column, labels aligned, scrollable, so it fits a
//! 80x24 console whatever the table grows to.

use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use crate::tui::app::State;
use crate::tui::keys::{self, Context};

/// The help's lines for the screen it was opened on.
pub fn help_lines(s: &State) -> Vec<Line<'static>> {
    let Some(h) = &s.help else {
        return Vec::new();
    };
    let w = keys::label_width();
    let mut contexts: Vec<Context> = vec![Context::Always];
    contexts.extend(h.contexts.iter().copied());
    contexts.push(Context::Help);
    let mut lines: Vec<Line> = Vec::new();
    let mut last = "";
    for ctx in contexts {
        // Contexts that share a title (the ingest/export dialogs) share a heading.
        if ctx.title() != last {
            lines.push(Line::from(ctx.title()).bold().underlined());
        }
        last = ctx.title();
        for b in keys::help_lines(ctx) {
            lines.push(Line::from(vec![
                Span::from(format!("  {:<w$}  ", b.label)).bold(),
                Span::from(b.help),
            ]));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "An unsealed session seals itself after {} without a key press.",
        super::clock(s.idle_timeout)
    )));
    lines
}

/// The overlay's rectangle in the body.
fn rect(s: &State, area: Rect) -> Rect {
    let h = super::rows(help_lines(s).len()).saturating_add(2);
    centered(area, area.width.min(100), h)
}

/// Lines visible at once.
pub fn help_rows(s: &State) -> usize {
    let body = Rect::new(0, 0, s.viewport.0, super::rows(super::body_height(s)));
    usize::from(rect(s, body).height.saturating_sub(2))
}

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let lines = help_lines(s);
    let r = rect(s, area);
    let scroll = s.help.as_ref().map_or(0, |h| h.scroll);
    let more = lines.len() > usize::from(r.height.saturating_sub(2)) + scroll;
    let title = if more {
        " Keys · ↓ more · ? or Esc closes "
    } else {
        " Keys · ? or Esc closes "
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((super::rows(scroll), 0))
            .block(Block::bordered().title(title)),
        r,
    );
}
