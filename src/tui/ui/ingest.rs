//! The ingest wizard on screen. Everything drawn comes from the wizard's
//! state: paths, the library's preview and report, counts. No seed is in
//! that state, so none can be drawn.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, rows, spinner};
use crate::media::human_bytes;
use crate::tui::app::State;
use crate::tui::ingest::{Field, IngestWizard, Refusal, Step};

/// Draws the wizard over `area`.
pub(super) fn render(f: &mut Frame, area: Rect, s: &State, w: &IngestWizard) {
    let area = centered(area, area.width.min(110), area.height);
    f.render_widget(Clear, area);
    let block = Block::bordered().title(" Ingest a factory batch ".bold());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, hint] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let hint_text = match &w.step {
        Step::Sealed => "u unseal · Esc close",
        Step::Choose { .. } => "Enter check the file · Tab next field · Esc cancel",
        Step::Checking { .. } => "reading and checking the whole file; nothing is stored",
        Step::Report { outcome: Ok(_), .. } => {
            "Enter/y seal these tokens · Up/Down scroll · Esc back (nothing stored)"
        }
        Step::Report { .. } => "Esc back to the file · Up/Down scroll",
        Step::Sealing { .. } => "sealing and storing; the batch commits whole or not at all",
        Step::Done(_) => "Esc close",
        Step::Failed(_) => "Esc back to the file (nothing was stored)",
    };
    f.render_widget(Paragraph::new(Line::from(hint_text).dim()), hint);
    match &w.step {
        Step::Sealed => sealed(f, body, s, "Ingest"),
        Step::Choose {
            focus,
            files,
            selected,
        } => choose(f, body, w, *focus, files.as_deref(), *selected),
        Step::Checking { since, read } => {
            let lines = vec![
                Line::from(format!("File     {}", w.choice.path.trim())),
                Line::from(""),
                Line::from(format!(
                    "{} reading and checking every record… {read} tokens read",
                    spinner(s, *since)
                )),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        }
        Step::Report {
            outcome: Ok(p),
            scroll,
        } => {
            let mut lines = vec![
                kv("File", w.choice.path.trim()),
                kv(
                    "Format",
                    &format!(
                        "{}{}{}",
                        p.format,
                        if w.choice.format.trim().is_empty() {
                            " (detected)"
                        } else {
                            " (as given)"
                        },
                        if p.openpgp {
                            " (OpenPGP message, decrypted with the vault key)"
                        } else {
                            ""
                        }
                    ),
                ),
                kv(
                    "Size",
                    &format!("{} ({} bytes)", human_bytes(p.size), p.size),
                ),
                kv("Tokens", &p.count.to_string()),
                kv("SHA-256", &p.source_sha256),
            ];
            if let Some(fs) = &p.factory_signer {
                lines.push(kv("Signed by", &format!("factory certificate {fs}")));
            }
            lines.push(Line::from(vec![
                Span::from(format!("{:<10}", "Report")).bold(),
                Span::from("no problem found: every record read and checked; no serial is already in the vault")
                    .style(Style::new().fg(Color::Green)),
            ]));
            lines.push(Line::from(""));
            let label = w.choice.label.trim();
            lines.push(
                Line::from(format!(
                    "Seal {} tokens ({}){} from the file with the SHA-256 above?",
                    p.count,
                    p.format,
                    if label.is_empty() {
                        " with no label".to_owned()
                    } else {
                        format!(" as batch \"{label}\"")
                    }
                ))
                .bold(),
            );
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0)),
                body,
            );
        }
        Step::Report {
            outcome: Err(r),
            scroll,
        } => refusal(f, body, w.choice.path.trim(), r, *scroll),
        Step::Sealing {
            total,
            done,
            elapsed,
            since,
        } => {
            let [top, gauge, rest] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Length(1),
                Constraint::Min(0),
            ])
            .areas(body);
            f.render_widget(
                Paragraph::new(format!(
                    "{} sealing {total} tokens from {}",
                    spinner(s, *since),
                    w.choice.path.trim()
                ))
                .wrap(Wrap { trim: false }),
                top,
            );
            let ratio = if *total == 0 {
                0.0
            } else {
                (*done as f64 / *total as f64).clamp(0.0, 1.0)
            };
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.0 {
                format!(" · {:.0} tokens/s", *done as f64 / secs)
            } else {
                String::new()
            };
            f.render_widget(
                Gauge::default()
                    .ratio(ratio)
                    .label(format!("{done} of {total}{rate}"))
                    .gauge_style(Style::new().fg(Color::Green)),
                gauge,
            );
            f.render_widget(
                Paragraph::new("nothing is stored until the whole file is read and checked"),
                rest,
            );
        }
        Step::Done(o) => {
            let lines = vec![
                Line::from(format!("Batch {} is in the vault.", o.batch_id)).bold(),
                Line::from(""),
                kv("Batch", &o.batch_id.to_string()),
                kv("Tokens", &o.count.to_string()),
                kv(
                    "Format",
                    &format!(
                        "{}{}",
                        o.format,
                        if o.openpgp { " (OpenPGP message)" } else { "" }
                    ),
                ),
                kv("SHA-256", &o.source_sha256),
                kv("File", w.choice.path.trim()),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        }
        Step::Failed(r) => refusal(f, body, w.choice.path.trim(), r, 0),
    }
}

/// The vault is sealed: what a quorum act needs, and the key that starts it.
pub(super) fn sealed(f: &mut Frame, area: Rect, s: &State, act: &str) {
    let need = match &s.status {
        Some(Ok(st)) => format!(
            "{} of the {} custodians' cards",
            st.threshold, st.share_count
        ),
        _ => "a quorum of the custodians' cards".to_owned(),
    };
    let lines = vec![
        Line::from("The vault is sealed.").bold(),
        Line::from(""),
        Line::from(format!(
            "{act} needs the quorum: the vault must be unsealed first, with {need} and their passphrases."
        )),
        Line::from(""),
        Line::from("Press u to unseal, then try again."),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn kv(k: &str, v: &str) -> Line<'static> {
    Line::from(vec![
        Span::from(format!("{k:<10}")).bold(),
        Span::from(v.to_owned()),
    ])
}

/// `s` cut to its last `width` characters (a path's tail matters most).
fn tail(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_owned();
    }
    let keep: String = s.chars().skip(n + 1 - width).collect();
    format!("…{keep}")
}

fn choose(
    f: &mut Frame,
    area: Rect,
    w: &IngestWizard,
    focus: Field,
    files: Option<&[crate::tui::ingest::FoundFile]>,
    selected: usize,
) {
    let [top, list, fields, problem] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(5),
        Constraint::Length(2),
    ])
    .areas(area);
    let width = usize::from(area.width);
    let field_line = |fld: Field, label_w: usize| -> Line<'static> {
        let on = focus == fld;
        let text = w.choice.field(fld);
        let shown = if on {
            format!("{}_", tail(text, width.saturating_sub(label_w + 4)))
        } else {
            tail(text, width.saturating_sub(label_w + 3))
        };
        Line::from(vec![
            Span::from(if on { "›" } else { " " }),
            Span::from(format!("{:<label_w$} ", fld.title())).bold(),
            Span::from(shown).style(if on {
                Style::new().reversed()
            } else {
                Style::new()
            }),
        ])
    };
    f.render_widget(
        Paragraph::new(vec![
            field_line(Field::Path, 5),
            Line::from("type a path, or Tab to the files found on the media").dim(),
        ]),
        top,
    );
    let on_list = focus == Field::Files;
    let mut lines = vec![Line::from(vec![
        Span::from(if on_list { "›" } else { " " }),
        Span::from("Files on media").bold(),
        Span::from(if on_list {
            " (Up/Down, Enter picks)"
        } else {
            ""
        })
        .dim(),
    ])];
    let visible = usize::from(list.height.saturating_sub(1)).max(1);
    match files {
        None => lines.push(Line::from("  looking at the media…").dim()),
        Some([]) => lines
            .push(Line::from("  no file found on the mounted media or --media directories").dim()),
        Some(all) => {
            let first = selected.saturating_sub(visible - 1);
            for (i, file) in all.iter().enumerate().skip(first).take(visible) {
                let size = human_bytes(file.size);
                let name = tail(
                    &file.path.display().to_string(),
                    width.saturating_sub(size.len() + 6),
                );
                let cursor = on_list && i == selected;
                let pad = width.saturating_sub(name.chars().count() + size.len() + 5);
                let line = Line::from(format!(
                    "  {} {name}{} {size}",
                    if cursor { ">" } else { " " },
                    " ".repeat(pad)
                ));
                lines.push(if cursor { line.reversed() } else { line });
            }
        }
    }
    f.render_widget(Paragraph::new(lines), list);
    let label_w = 22;
    let field_lines: Vec<Line> = [
        Field::Label,
        Field::Format,
        Field::FactoryCert,
        Field::PskcKey,
        Field::PskcPassword,
    ]
    .into_iter()
    .map(|fld| field_line(fld, label_w))
    .collect();
    f.render_widget(Paragraph::new(field_lines), fields);
    if let Some(p) = &w.problem {
        f.render_widget(
            Paragraph::new(Line::from(p.clone()).style(Style::new().fg(Color::Red)))
                .wrap(Wrap { trim: false }),
            problem,
        );
    }
}

/// A refusal: the library's words, then the advice. Scrollable.
pub(super) fn refusal(f: &mut Frame, area: Rect, what: &str, r: &Refusal, scroll: u16) {
    let mut lines = vec![
        Line::from(vec![
            Span::from(if r.tampering {
                " TAMPERING "
            } else {
                " REFUSED "
            })
            .style(Style::new().fg(Color::White).bg(Color::Red).bold()),
            Span::from(format!(" {what}")),
        ]),
        Line::from(""),
    ];
    lines.extend(r.message.lines().map(|l| Line::from(l.to_owned())));
    if let Some(a) = &r.advice {
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::from("next: ").bold(),
            Span::from(a.clone()),
        ]));
    }
    let scroll = scroll.min(rows(lines.len().saturating_sub(1)));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}
