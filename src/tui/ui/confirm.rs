//! The confirmation dialog and the one-line prompt.

use ratatui::layout::Rect;
use ratatui::style::{Color, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::centered;
use crate::tui::app::{Confirm, Prompt, PromptFor};

pub(super) fn render(f: &mut Frame, area: Rect, c: &Confirm) {
    let lines = vec![
        Line::from(c.question.clone()).bold(),
        Line::from(""),
        Line::from("Enter or y: yes · Esc or n: no").dim(),
    ];
    let w = area.width.saturating_sub(4).clamp(20, 70);
    let rect = centered(area, w, 6);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Confirm ")),
        rect,
    );
}

pub(super) fn render_prompt(f: &mut Frame, area: Rect, p: &Prompt) {
    let (title, hint) = match p.purpose {
        PromptFor::AuditFilter => (
            " Filter the log ",
            "event:NAME serial:S order:ID request:ID officer:NAME (a bare word is an event); empty: all",
        ),
        PromptFor::Checkpoint => (
            " Sign a checkpoint to ",
            "the directory of a mounted medium; the file is named checkpoint-<entries>.asc",
        ),
        PromptFor::ExportLog => (
            " Export the log to ",
            "the directory of a mounted medium; the file is named audit-<entries>.jsonl",
        ),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::from("> ").bold(),
            Span::from(format!("{}_", p.input)).reversed(),
        ]),
        Line::from(hint).dim(),
    ];
    if let Some(e) = &p.error {
        lines.push(Line::from(e.clone()).fg(Color::Red).bold());
    }
    lines.push(Line::from("Enter accept · Esc cancel").dim());
    let w = area.width.saturating_sub(4).max(20);
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let h: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let rect = centered(area, w, super::rows(h).saturating_add(2));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title)),
        rect,
    );
}
