//! The steps of an officer's act drawn above the screen: forms, the dry
//! run's wait, confirmations (with the recipient's fingerprints large
//! enough to read out), results and refusals, and the officer card dialog.
//! A passphrase is drawn as one `•` per character; this module asks the
//! dialog for the length only.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, rows, spinner};
use crate::formats::Format;
use crate::tui::acts::{Confirm, Form, FormKind, Modal, Recipient};
use crate::tui::app::State;
use crate::tui::officer::{OfficerDialog, OfficerStep};

/// Draws the open step, if any.
pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    if let Some(d) = &s.acts.officer {
        return officer(f, area, s, d);
    }
    match &s.acts.modal {
        None => {}
        Some(Modal::Form(form)) => render_form(f, area, s, form),
        Some(Modal::Checking { what, .. }) => {
            let lines = vec![
                Line::from(format!("{what}…")),
                Line::from(""),
                Line::from("Esc goes back to the form").dim(),
            ];
            popup(f, area, "Checking", lines, 6, Color::Reset, 0);
        }
        Some(Modal::Confirm(c)) => render_confirm(f, area, c),
        Some(Modal::Result {
            title,
            text,
            error,
            advice,
        }) => {
            let mut lines: Vec<Line> = text
                .lines()
                .map(|l| {
                    let line = Line::from(l.to_owned());
                    if *error {
                        line.fg(Color::Red)
                    } else {
                        line
                    }
                })
                .collect();
            if let Some(a) = advice {
                lines.push(Line::from(format!("hint: {a}")).fg(Color::Yellow));
            }
            lines.push(Line::from(""));
            lines.push(Line::from("Enter or Esc closes").dim());
            let color = if *error { Color::Red } else { Color::Green };
            let h = rows(lines.len() + 4);
            popup(f, area, title, lines, h, color, 0);
        }
    }
}

fn popup(
    f: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line>,
    h: u16,
    border: Color,
    scroll: u16,
) {
    let w = area.width.saturating_sub(2).min(110);
    // Wrapped lines take more rows: count them, so the last line (the
    // keys to go on) is never cut off.
    let inner = usize::from(w.saturating_sub(2)).max(1);
    let wrapped: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let r = centered(area, w, h.max(rows(wrapped + 2)));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(
                Block::bordered()
                    .title(format!(" {title} "))
                    .border_style(Style::new().fg(border)),
            ),
        r,
    );
}

fn render_form(f: &mut Frame, area: Rect, s: &State, form: &Form) {
    let mut lines: Vec<Line> = Vec::new();
    for (i, field) in form.fields.iter().enumerate() {
        let focused = i == form.focus && form.list.is_none();
        let value = if focused {
            format!("{}_", field.value)
        } else {
            field.value.clone()
        };
        let style = if focused {
            Style::new().reversed()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::from(format!("{:<24}", field.label)).bold(),
            Span::from(value).style(style),
        ]));
    }
    if form.kind == FormKind::Request {
        let all: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        lines.push(Line::from(format!("Formats: {}", all.join(", "))).dim());
    }
    if let Some(e) = &form.error {
        lines.push(Line::from(""));
        for l in e.lines() {
            lines.push(Line::from(l.to_owned()).fg(Color::Red).bold());
        }
    }
    if form.fields.iter().any(|x| x.file) {
        lines.push(Line::from(""));
        if s.acts.files.is_empty() {
            lines.push(Line::from("no files on the mounted media: type the path").dim());
        } else {
            lines.push(Line::from("Files on the media (Tab from a file field):").dim());
            let cur = form.list;
            let skip = cur.unwrap_or(0).saturating_sub(4);
            for (i, p) in s.acts.files.iter().enumerate().skip(skip).take(5) {
                let on = cur == Some(i);
                let line = Line::from(format!("{} {}", if on { ">" } else { " " }, p.display()));
                lines.push(if on { line.reversed() } else { line });
            }
        }
    }
    lines.push(Line::from(""));
    lines.push(
        Line::from(if form.list.is_some() {
            "Up/Down choose · Enter takes the file · Esc back to the field"
        } else {
            "Enter check · Tab next field · Shift-Tab previous · Esc cancel"
        })
        .dim(),
    );
    let h = rows(lines.len() + 2);
    popup(f, area, &form.title(), lines, h, Color::Reset, 0);
}

/// `ABCD 1234 ...`: groups of four, two spaces in the middle, as gpg
/// prints a fingerprint to be read out.
pub(super) fn grouped(fpr: &str) -> String {
    let chars: Vec<char> = fpr.chars().collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    let half = groups.len() / 2;
    if groups.len() == 10 {
        format!("{}  {}", groups[..half].join(" "), groups[half..].join(" "))
    } else {
        groups.join(" ")
    }
}

fn recipient_lines(r: &Recipient, lines: &mut Vec<Line<'static>>) {
    let big = Style::new().add_modifier(Modifier::BOLD).fg(Color::Yellow);
    lines.push(Line::from("Recipient key (primary):").bold());
    lines.push(Line::from(
        Span::from(format!("  {}", grouped(&r.fingerprint))).style(big),
    ));
    for k in &r.subkeys {
        lines.push(Line::from("Encrypts to subkey:").bold());
        lines.push(Line::from(
            Span::from(format!("  {}", grouped(k))).style(big),
        ));
    }
    for u in &r.user_ids {
        lines.push(Line::from(format!("User ID: {u}")));
    }
}

fn render_confirm(f: &mut Frame, area: Rect, c: &Confirm) {
    let mut lines: Vec<Line> = c.lines.iter().map(|l| Line::from(l.clone())).collect();
    if let Some(r) = &c.recipient {
        recipient_lines(r, &mut lines);
    }
    let border = match &c.refusal {
        Some(e) => {
            lines.push(Line::from(""));
            for l in e.lines() {
                lines.push(Line::from(l.to_owned()).fg(Color::Red).bold());
            }
            lines.push(Line::from(""));
            lines.push(Line::from("Esc back to the form to change it").dim());
            Color::Red
        }
        None => {
            lines.push(Line::from(""));
            lines.push(Line::from("Enter or y: go on to the officer's card · Esc back").bold());
            Color::Yellow
        }
    };
    let h = rows(lines.len() + 2).max(8);
    popup(f, area, &c.title, lines, h, border, c.scroll);
}

fn officer(f: &mut Frame, area: Rect, s: &State, d: &OfficerDialog) {
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::from("Act: ").bold(),
        Span::from(d.what.clone()),
    ])];
    match &d.step {
        OfficerStep::Cards => {
            lines.push(Line::from("Whose card? The act is signed with it.").bold());
            let shown = if d.dir_focus {
                format!("{}_", d.dir)
            } else if d.dir.is_empty() {
                "(media and card directories; Tab to type one)".to_owned()
            } else {
                d.dir.clone()
            };
            let style = if d.dir_focus {
                Style::new().reversed()
            } else {
                Style::new()
            };
            lines.push(Line::from(vec![
                Span::from("Card directory: "),
                Span::from(shown).style(style),
            ]));
            if d.scanning {
                lines.push(Line::from("looking for *.card files…"));
            } else if d.cards.is_empty() {
                lines.push(Line::from(
                    "no cards found: insert the officer's medium, then r to look again",
                ));
            }
            let skip = d.cursor.saturating_sub(5);
            for (i, c) in d.cards.iter().enumerate().skip(skip).take(6) {
                let mut spans = vec![
                    Span::from(if i == d.cursor { "> " } else { "  " }),
                    Span::from(format!("{:<12}", c.custodian)).bold(),
                    Span::from(format!(
                        " share {}  {}",
                        u16::from(c.member_index) + 1,
                        c.path.display()
                    )),
                ];
                if !c.this_vault {
                    spans.push(Span::from("  another vault's card").fg(Color::Red));
                }
                let line = Line::from(spans);
                lines.push(if i == d.cursor { line.reversed() } else { line });
            }
            lines.push(Line::from(""));
            lines.push(
                Line::from("Up/Down choose · Enter this card · Tab directory · Esc cancel").dim(),
            );
        }
        OfficerStep::Passphrase { card, .. } => {
            lines.push(Line::from(vec![
                Span::from("Acting: ").bold(),
                Span::from(card.custodian.clone())
                    .style(Style::new().add_modifier(Modifier::BOLD).fg(Color::Yellow)),
                Span::from(format!(" ({})", card.path.display())),
            ]));
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::from(format!("Passphrase of {}: ", card.custodian)).bold(),
                Span::from(format!("{}_", "•".repeat(d.masked_len()))).reversed(),
            ]));
            lines.push(Line::from(""));
            lines.push(Line::from("Enter signs · Esc back to the cards (wipes it)").dim());
        }
        OfficerStep::Working { name, since } => {
            lines.push(Line::from(format!(
                "{} {name} is acting: opening the card (Argon2id) and signing…",
                spinner(s, *since)
            )));
        }
    }
    if let Some(e) = &d.error {
        lines.push(Line::from(e.clone()).fg(Color::Red).bold());
    }
    let h = rows(lines.len() + 2);
    let title = if d.what.starts_with("check") {
        "Card check"
    } else {
        "Officer's card"
    };
    popup(f, area, title, lines, h, Color::Yellow, 0);
}
