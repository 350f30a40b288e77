//! The `?` overlay, generated from the keybinding table.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use crate::tui::app::State;
use crate::tui::keys::{help_lines, Context};

/// Two columns, so the whole table fits a 24-line console.
const LEFT: [Context; 3] = [Context::Always, Context::Main, Context::Audit];
const RIGHT: [Context; 9] = [
    Context::Entry,
    Context::Dialog,
    Context::CardList,
    Context::TextField,
    Context::Act,
    Context::ActList,
    Context::ActConfirm,
    Context::ActSealed,
    Context::Help,
];

fn column(contexts: &[Context]) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut last = "";
    for ctx in contexts {
        // Contexts that share a title (the ingest/export dialogs) share a heading.
        if ctx.title() != last {
            lines.push(Line::from(ctx.title()).bold().underlined());
        }
        last = ctx.title();
        for b in help_lines(*ctx) {
            lines.push(Line::from(vec![
                Span::from(format!("  {:<11}", b.label)).bold(),
                Span::from(b.help),
            ]));
        }
    }
    lines
}

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let left = column(&LEFT);
    let mut right = column(&RIGHT);
    right.push(Line::from(format!(
        "Unsealed, it seals after {} without a key.",
        super::clock(s.idle_timeout)
    )));
    let h = super::rows(left.len().max(right.len())).saturating_add(2);
    let rect = centered(area, 112, h);
    f.render_widget(Clear, rect);
    let block = Block::bordered().title(" Keys · ? or Esc closes ");
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    f.render_widget(Paragraph::new(left), l);
    f.render_widget(Paragraph::new(right), r);
}
