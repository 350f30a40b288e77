//! The Overview tab: what an officer checks before doing anything.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::session_line;
use crate::media::{human_bytes, MEDIA_ROOTS};
use crate::tui::app::{Session, State};
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
    let mut lines: Vec<Line> = Vec::new();
    match &s.status {
        None => lines.push(Line::from("reading the vault…")),
        Some(Err(e)) => {
            lines.push(Line::from(format!("cannot read the vault: {e}")).fg(Color::Red))
        }
        Some(Ok(st)) => {
            lines.push(row(
                "Vault",
                format!("{}   created {}", st.vault_id, st.created_at),
            ));
            if st.test_vault {
                lines.push(Line::from(vec![
                    Span::from(" ".repeat(13)),
                    Span::from(" TEST VAULT ")
                        .style(Style::new().fg(Color::White).bg(Color::Red).bold()),
                    Span::from(" made with --insecure-fast-kdf: never put real seeds in it")
                        .fg(Color::Red)
                        .bold(),
                ]));
            }
            lines.push(row("Fingerprint", st.vault_fingerprint.clone()));
            lines.push(row(
                "Quorum",
                format!(
                    "{} of {} cards; custodians: {}",
                    st.threshold,
                    st.share_count,
                    st.custodians.join(", ")
                ),
            ));
            lines.push(row("Key version", st.key_version.to_string()));
            lines.push(row("Seeds", st.counts.summary()));
            lines.push(row("Audit log", st.audit.summary()));
        }
    }
    let mut seal = session_line(s);
    seal.spans
        .insert(0, Span::from(format!("{:<13}", "Seal state")).bold());
    lines.push(Line::from(""));
    lines.push(seal);
    if let Session::Unsealed { held, .. } = &s.session {
        lines.push(row("In memory", held_text(held)));
    }
    lines.push(Line::from(""));
    if s.media.is_empty() {
        lines.push(row(
            "Media",
            format!("none mounted under {}", MEDIA_ROOTS.join(", ")),
        ));
    }
    for (i, m) in s.media.iter().enumerate() {
        lines.push(row(
            if i == 0 { "Media" } else { "" },
            format!(
                "{}  {} {}  {} free of {}",
                m.mount_point.display(),
                m.device,
                m.fs_type,
                human_bytes(m.free_bytes),
                human_bytes(m.total_bytes)
            ),
        ));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Overview ")),
        area,
    );
}
