//! The unseal dialog: cards, then passphrases, then the wait.
//!
//! A passphrase is drawn as one `•` per character and nothing else; this
//! module never sees its text (it asks the dialog for the length only).

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, spinner};
use crate::tui::app::State;
use crate::tui::unseal::{Focus, Step, UnsealDialog};

pub(super) fn render(f: &mut Frame, area: Rect, s: &State, d: &UnsealDialog) {
    let (need, total) = match &s.status {
        Some(Ok(st)) => (st.threshold.to_string(), st.share_count.to_string()),
        _ => ("M".into(), "N".into()),
    };
    let mut lines: Vec<Line> = Vec::new();
    let hint;
    match &d.step {
        Step::Cards | Step::Checking => {
            let field_style = if d.focus == Focus::Path {
                Style::new().reversed()
            } else {
                Style::new()
            };
            let shown = if d.dir.is_empty() && d.focus != Focus::Path {
                "(media mounts and ./cards)".to_string()
            } else if d.focus == Focus::Path {
                format!("{}_", d.dir)
            } else {
                d.dir.clone()
            };
            lines.push(Line::from(vec![
                Span::from("Card directory: ").bold(),
                Span::from(shown).style(field_style),
            ]));
            if d.scanning {
                lines.push(Line::from("looking for *.card files…"));
            } else {
                let dirs: Vec<String> = d.scanned.iter().map(|p| p.display().to_string()).collect();
                lines.push(Line::from(format!("looked in: {}", dirs.join(", "))).dim());
            }
            lines.push(Line::from(""));
            if d.cards.is_empty() && !d.scanning {
                lines.push(Line::from(
                    "no cards found: insert the custodians' media, or type a directory (Tab)",
                ));
            }
            for (i, c) in d.cards.iter().enumerate() {
                let on = d.chosen.get(i).copied().unwrap_or(false);
                let cursor = if i == d.cursor && d.focus == Focus::List {
                    ">"
                } else {
                    " "
                };
                let mut spans = vec![
                    Span::from(format!("{cursor} [{}] ", if on { "x" } else { " " })),
                    Span::from(format!("{:<12}", c.custodian)).bold(),
                    Span::from(format!(
                        " share {:<2}  {}",
                        u16::from(c.member_index) + 1,
                        c.path.display()
                    )),
                ];
                if !c.this_vault {
                    spans.push(Span::from("  (another vault's card)").fg(Color::Red));
                }
                let mut line = Line::from(spans);
                if i == d.cursor && d.focus == Focus::List {
                    line = line.style(Style::new().add_modifier(Modifier::REVERSED));
                }
                lines.push(line);
            }
            for e in &d.scan_errors {
                lines.push(Line::from(format!("  unreadable: {e}")).fg(Color::Red));
            }
            let n = d.chosen.iter().filter(|c| **c).count();
            lines.push(Line::from(""));
            lines.push(Line::from(format!(
                "{n} selected; {need} of {total} needed"
            )));
            if matches!(d.step, Step::Checking) {
                lines.push(Line::from("checking the cards' headers…"));
            }
            hint = if d.focus == Focus::Path {
                "Enter list cards · Tab card list · Esc cancel"
            } else {
                "Space select · Enter continue · Tab directory · Esc cancel"
            };
        }
        Step::Passphrase {
            chosen,
            index,
            checking,
            ..
        } => {
            for (i, c) in chosen.iter().enumerate() {
                let state = if i < *index {
                    Span::from("✓ verified ").fg(Color::Green)
                } else if i == *index && checking.is_some() {
                    Span::from("… checking ").bold()
                } else if i == *index {
                    Span::from("▶ now      ").bold()
                } else {
                    Span::from("  waiting  ").dim()
                };
                lines.push(Line::from(vec![
                    state,
                    Span::from(format!("{:<12}", c.custodian)).bold(),
                    Span::from(format!(" {}", c.path.display())),
                ]));
            }
            lines.push(Line::from(""));
            match chosen.get(*index) {
                Some(c) if checking.is_some() => {
                    lines.push(Line::from(format!(
                        "{} checking {}'s passphrase (Argon2id)…",
                        spinner(s, s.last_activity),
                        c.custodian
                    )));
                    if let Some(next) = chosen.get(*index + 1) {
                        lines.push(Line::from(format!(
                            "{}: you may type yours now (others look away)",
                            next.custodian
                        )));
                    }
                }
                Some(c) => lines.push(Line::from(format!(
                    "{}: type your passphrase (others look away)",
                    c.custodian
                ))),
                None => {}
            }
            lines.push(Line::from(vec![
                Span::from("Passphrase: ").bold(),
                Span::from(format!("{}_", "•".repeat(d.masked_len()))).reversed(),
            ]));
            hint = "Enter accept · Backspace delete · Ctrl-U clear · Esc cancel (wipes)";
        }
        Step::Working { names, since } => {
            lines.push(Line::from(format!(
                "{} Unsealing with the cards of {}…",
                spinner(s, *since),
                names.join(", ")
            )));
            lines.push(Line::from(
                "Argon2id runs on each card (about half a second each); the screen stays live.",
            ));
            hint = "please wait";
        }
    }
    if let Some(e) = &d.error {
        lines.push(Line::from(""));
        lines.push(Line::from(e.message.clone()).fg(Color::Red).bold());
        if let Some(a) = e.advice {
            lines.push(Line::from(format!("→ {a}")));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(hint).dim());
    let w = area.width.saturating_sub(4).max(40);
    let inner_w = w.saturating_sub(2).max(1) as usize;
    let h: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let rect = centered(area, w, super::rows(h).saturating_add(2));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" Unseal: present {need} of {total} cards "))),
        rect,
    );
}
