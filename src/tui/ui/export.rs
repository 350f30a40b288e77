//! The export dialog on screen. The recipient's fingerprints are drawn in
//! bold groups of four, as an officer reads them out over the phone to
//! the customer who must compare them.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, spinner};
use crate::media::human_bytes;
use crate::tui::app::State;
use crate::tui::export::{grouped, ExportDialog, Focus, Step};
use crate::vault::ExportStep;

/// A unix time as `YYYY-MM-DD HH:MMZ`.
fn when(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]Z");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(fmt).ok())
        .unwrap_or_default()
}

fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::from(format!("{k:<10}")).bold(),
        Span::from(v.into()),
    ])
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Draws the dialog over `area`.
pub(super) fn render(f: &mut Frame, area: Rect, s: &State, d: &ExportDialog) {
    let area = centered(area, area.width.min(110), area.height);
    f.render_widget(Clear, area);
    let title = match &d.request {
        Some(r) => format!(" Export request {r} "),
        None => " Export an approved request ".to_owned(),
    };
    let block = Block::bordered().title(title.bold());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [body, hint] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let hint_text = match &d.step {
        Step::Sealed => "u unseal · Esc close",
        Step::Pick { .. } => "Up/Down choose · Enter pick · Esc cancel",
        Step::Medium { .. } => {
            "Enter check and show what will happen · Tab media list · Esc cancel"
        }
        Step::Planning { .. } => {
            "checking the approval, the serials and the medium; nothing is written"
        }
        Step::Summary { .. } => "Enter/y write to the medium · Esc back (nothing written)",
        Step::Writing { .. } => "writing, reading back, recording; it cannot be interrupted",
        Step::Done(_) => "Esc close",
        Step::Refused { back: true, .. } => "Esc back to the medium",
        Step::Refused { .. } => "Esc close",
    };
    f.render_widget(Paragraph::new(Line::from(hint_text).dim()), hint);
    let width = usize::from(body.width);
    match &d.step {
        Step::Sealed => super::ingest::sealed(f, body, s, "Export"),
        Step::Pick {
            candidates,
            selected,
        } => {
            let mut lines = vec![Line::from("Approved requests that can be exported now:").bold()];
            if candidates.is_empty() {
                lines.push(Line::from(
                    "  none: a request must be created and approved by two officers (Requests screen)",
                ));
            }
            for (i, c) in candidates.iter().enumerate() {
                let on = i == *selected;
                let line = Line::from(format!(
                    "{} {:<6} order {:<8} {:>6} serials  {:<10} until {}",
                    if on { ">" } else { " " },
                    c.id,
                    c.order_id,
                    c.serials,
                    c.format,
                    when(c.expires_at)
                ));
                lines.push(if on { line.reversed() } else { line });
            }
            f.render_widget(Paragraph::new(lines), body);
        }
        Step::Medium { focus, selected } => {
            let on_path = *focus == Focus::Path;
            let shown = if on_path {
                format!("{}_", d.medium)
            } else {
                d.medium.clone()
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::from(if on_path { "›" } else { " " }),
                    Span::from("Medium ").bold(),
                    Span::from(shown).style(if on_path {
                        Style::new().reversed()
                    } else {
                        Style::new()
                    }),
                ]),
                Line::from("  the directory the bundle and manifest are written to").dim(),
                Line::from(""),
                Line::from(vec![
                    Span::from(if on_path { " " } else { "›" }),
                    Span::from("Media").bold(),
                    Span::from(" (Tab, Up/Down, Enter picks)").dim(),
                ]),
            ];
            if d.media.is_empty() {
                lines.push(Line::from("  no removable medium is mounted").dim());
            }
            for (i, m) in d.media.iter().enumerate() {
                let on = !on_path && i == *selected;
                let free = s
                    .media
                    .iter()
                    .find(|x| &x.mount_point == m)
                    .map(|x| format!("{} free", human_bytes(x.free_bytes)))
                    .unwrap_or_default();
                let name = m.display().to_string();
                let pad = width.saturating_sub(name.chars().count() + free.len() + 5);
                let line = Line::from(format!(
                    "  {} {name}{} {free}",
                    if on { ">" } else { " " },
                    " ".repeat(pad)
                ));
                lines.push(if on { line.reversed() } else { line });
            }
            if let Some(p) = &d.problem {
                lines.push(Line::from(""));
                lines.push(Line::from(p.clone()).style(Style::new().fg(Color::Red)));
            }
            f.render_widget(Paragraph::new(lines), body);
        }
        Step::Planning { since } => {
            f.render_widget(
                Paragraph::new(format!(
                    "{} checking request {} for {}…",
                    spinner(s, *since),
                    d.request.as_deref().unwrap_or(""),
                    d.medium
                ))
                .wrap(Wrap { trim: false }),
                body,
            );
        }
        Step::Summary { plan, scroll } => {
            let mut lines = vec![
                kv(
                    "Request",
                    format!(
                        "{} · order {} · requested by {}",
                        plan.request_id, plan.order_id, plan.requester
                    ),
                ),
                kv(
                    "Serials",
                    format!("{} · format {}", plan.serials, plan.format),
                ),
                Line::from("Recipient (read it out; the customer compares):").bold(),
                Line::from(vec![
                    Span::from("  primary  "),
                    Span::from(grouped(&plan.recipient_fingerprint)).bold(),
                ]),
            ];
            for sk in &plan.encryption_subkeys {
                lines.push(Line::from(vec![
                    Span::from("  subkey   "),
                    Span::from(grouped(sk)).bold(),
                ]));
            }
            for u in &plan.user_ids {
                lines.push(Line::from(format!("  user id  {u}")));
            }
            lines.push(kv("Bundle", file_name(&plan.bundle)));
            lines.push(kv("Manifest", file_name(&plan.manifest)));
            let dir = plan
                .bundle
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            lines.push(kv("On", dir));
            lines.push(kv(
                "Space",
                format!(
                    "needs {} (bundle {}), {} free",
                    human_bytes(plan.need_bytes),
                    human_bytes(plan.bundle_bytes),
                    human_bytes(plan.free_bytes)
                ),
            ));
            lines.push(kv(
                "Approved",
                format!(
                    "by {} (created by {}), until {}",
                    plan.approved_by,
                    plan.created_by,
                    when(plan.expires_at)
                ),
            ));
            lines.push(
                Line::from(format!(
                    "Write {} serials to {}, encrypted to the recipient above?",
                    plan.serials,
                    file_name(&plan.bundle)
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
        Step::Writing { since, step, plan } => {
            let now = match step {
                None | Some(ExportStep::Sealing { .. }) => format!(
                    "opening and encrypting {} serials (checked again against the approval)",
                    plan.serials
                ),
                Some(ExportStep::Writing(p)) => format!("writing {}", file_name(p)),
                Some(ExportStep::ReadingBack(p)) => {
                    format!(
                        "reading {} back from the medium and comparing",
                        file_name(p)
                    )
                }
                Some(ExportStep::Recording) => "recording the export in the audit log".to_owned(),
            };
            let lines = vec![
                Line::from(format!("{} {now}", spinner(s, *since))),
                Line::from(""),
                kv("Bundle", file_name(&plan.bundle)),
                kv("Manifest", file_name(&plan.manifest)),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        }
        Step::Done(o) => {
            let lines = vec![
                Line::from(format!(
                    "Request {} exported: written, read back and verified, recorded.",
                    o.request_id
                ))
                .bold(),
                Line::from(""),
                kv("Serials", o.serials.to_string()),
                kv("Bundle", file_name(&o.bundle)),
                kv("Manifest", file_name(&o.manifest)),
                kv(
                    "On",
                    o.bundle
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ),
                kv("SHA-256", o.bundle_sha256.clone()),
                Line::from("Recipient").bold(),
                Line::from(vec![
                    Span::from("  primary  "),
                    Span::from(grouped(&o.recipient_fingerprint)).bold(),
                ]),
            ];
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        }
        Step::Refused { refusal, .. } => {
            let what = format!("request {}", d.request.as_deref().unwrap_or(""));
            super::ingest::refusal(f, body, &what, refusal, 0);
        }
    }
}
