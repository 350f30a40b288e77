//! The Overview tab: what an officer checks before doing anything.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{fit, session_line};
use crate::media::{human_bytes, MEDIA_ROOTS};
use crate::tui::app::{Check, Session, State};
use crate::vault::HeldSecrets;

fn row(label: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::from(format!("{label:<13}")).bold(),
        Span::from(value.into()),
    ])
}

/// What the vault thread holds for the session, as the officer should
/// read it: the one key, and that nothing else is kept.
fn held_text(h: &HeldSecrets) -> String {
    let count = |n: usize, what: &str| match n {
        0 => format!("no {what}"),
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    };
    format!(
        "the key-encryption key (version {}); {}, {}",
        h.kek_version,
        count(h.officer_keys, "officer signing key"),
        count(h.data_keys, "data key")
    )
}

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let width = usize::from(area.width.saturating_sub(2 + 13)).max(8);
    let mut lines: Vec<Line> = Vec::new();
    match &s.status {
        None => lines.push(Line::from("reading the vault…")),
        Some(Err(e)) => {
            lines.push(Line::from(format!("cannot read the vault: {}", e.message)).fg(Color::Red))
        }
        Some(Ok(st)) => {
            if st.test_vault {
                lines.push(Line::from(vec![
                    Span::from(" TEST VAULT ")
                        .style(Style::new().fg(Color::White).bg(Color::Red).bold()),
                    Span::from(" made with --insecure-fast-kdf: NEVER put real seeds in it")
                        .fg(Color::Red)
                        .bold(),
                ]));
            }
            lines.push(row(
                "Vault",
                fit(
                    &format!("{}   created {}", st.vault_id, st.created_at),
                    width,
                ),
            ));
            lines.push(row(
                "Quorum",
                fit(
                    &format!(
                        "{} of {}; custodians {}",
                        st.threshold,
                        st.share_count,
                        st.custodians.join(", ")
                    ),
                    width,
                ),
            ));
            lines.push(row("Seeds", fit(&st.counts.summary(), width)));
            lines.push(row(
                "Orders",
                fit(
                    &format!(
                        "{}; requests: {} pending, {} approved, {} rejected, {} exported",
                        st.orders,
                        st.requests_pending,
                        st.requests_approved,
                        st.requests_rejected,
                        st.requests_exported
                    ),
                    width,
                ),
            ));
            lines.push(row(
                "Audit log",
                fit(
                    &format!("{} entries, head {}", st.audit.entries, st.audit.head),
                    width,
                ),
            ));
            lines.push(row(
                "Checkpoint",
                match &st.last_checkpoint {
                    Some(c) => fit(
                        &format!("at entry {}, signed {}", c.entries, c.created_at),
                        width,
                    ),
                    None => "none yet (a quorum session signs one when it ends)".into(),
                },
            ));
            lines.push(chain_line(s, width));
            for u in &st.unfinished_exports {
                lines.push(
                    row(
                        "UNFINISHED",
                        fit(
                            &format!(
                                "export {} of request {} started {}, never completed",
                                u.export_id, u.request_id, u.started_at
                            ),
                            width,
                        ),
                    )
                    .fg(Color::Red)
                    .bold(),
                );
            }
        }
    }
    let mut seal = session_line(s);
    seal.spans
        .insert(0, Span::from(format!("{:<13}", "Seal state")).bold());
    lines.push(seal);
    if let Session::Unsealed { held, .. } = &s.session {
        lines.push(row("In memory", fit(&held_text(held), width)));
    }
    if s.media.is_empty() {
        lines.push(row(
            "Media",
            fit(
                &format!("none mounted under {}", MEDIA_ROOTS.join(", ")),
                width,
            ),
        ));
    }
    for (i, m) in s.media.iter().enumerate() {
        lines.push(row(
            if i == 0 { "Media" } else { "" },
            fit(
                &format!(
                    "{}  {} free of {}  ({} {})",
                    m.mount_point.display(),
                    human_bytes(m.free_bytes),
                    human_bytes(m.total_bytes),
                    m.device,
                    m.fs_type,
                ),
                width,
            ),
        ));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Overview ")),
        area,
    );
}

/// The chain's state as this session knows it: loud when broken.
fn chain_line(s: &State, width: usize) -> Line<'static> {
    match &s.audit.verify {
        Check::Done(Ok(r)) if !r.problems.is_empty() => Line::from(vec![
            Span::from(format!("{:<13}", "Chain")).bold(),
            Span::from(" BROKEN ").style(Style::new().fg(Color::White).bg(Color::Red).bold()),
            Span::from(fit(
                &format!(
                    " {} problem(s), first: {}",
                    r.problems.len(),
                    r.problems
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
                width.saturating_sub(8),
            ))
            .fg(Color::Red)
            .bold(),
        ]),
        Check::Done(Ok(r)) => row("Chain", format!("intact ({} entries verified)", r.entries)),
        Check::Done(Err(e)) => row("Chain", fit(&format!("not verified: {}", e.message), width)),
        Check::Running => row("Chain", "verifying…"),
        Check::NotRun => row("Chain", "not verified in this session (5, then v)"),
    }
}
