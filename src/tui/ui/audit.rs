//! The Audit log tab: the entries, one entry's JSON, and the chain check.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::tui::app::{State, Verify};

/// "N entries", or "last N of T entries" when the log is longer than what
/// the TUI reads.
fn shown(len: usize, s: &State) -> String {
    match &s.status {
        Some(Ok(st)) if st.audit.entries > len as u64 => {
            format!("last {len} of {} entries", st.audit.entries)
        }
        _ => format!("{len} entries"),
    }
}

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let entries = match &s.audit.entries {
        None => {
            return f.render_widget(
                Paragraph::new("reading the log…").block(Block::bordered()),
                area,
            )
        }
        Some(Err(e)) => {
            return f.render_widget(
                Paragraph::new(format!("cannot read the log: {e}"))
                    .fg(Color::Red)
                    .block(Block::bordered()),
                area,
            )
        }
        Some(Ok(e)) => e,
    };
    if let Some((i, scroll)) = s.audit.open {
        if let Some(e) = entries.get(i) {
            let title = format!(" Entry {} · {} · Esc back ", e.seq, e.event);
            f.render_widget(
                Paragraph::new(e.json.as_str())
                    .scroll((scroll, 0))
                    .wrap(Wrap { trim: false })
                    .block(Block::bordered().title(title)),
                area,
            );
            return;
        }
    }
    let report_lines = verify_lines(s);
    // Height of the report with its lines wrapped, up to two thirds of the
    // tab (the entries marked `!` in the list name the rest).
    let inner_w = area.width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = report_lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let report_h = if report_lines.is_empty() {
        0
    } else {
        super::rows(wrapped)
            .saturating_add(2)
            .min(area.height * 2 / 3)
    };
    let [list_area, report_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(report_h)]).areas(area);

    let bad: Vec<u64> = match &s.audit.verify {
        Verify::Done(Ok(r)) => r.problems.iter().map(|p| p.seq).collect(),
        _ => Vec::new(),
    };
    let rows = entries.iter().map(|e| {
        let mark = if bad.contains(&e.seq) { "!" } else { " " };
        let row = Row::new(vec![
            format!("{mark}{:>5}", e.seq),
            e.time.clone(),
            e.event.clone(),
            e.actors.join(", "),
        ]);
        if bad.contains(&e.seq) {
            row.fg(Color::Red)
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(20),
            Constraint::Length(20),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["   seq", "time (UTC)", "event", "actors"]).bold())
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::bordered().title(format!(
        " Audit log · {} · Enter view · v verify ",
        shown(entries.len(), s)
    )));
    let mut ts = TableState::default().with_selected(Some(s.audit.selected));
    f.render_stateful_widget(table, list_area, &mut ts);

    if !report_lines.is_empty() {
        f.render_widget(
            Paragraph::new(report_lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Chain verification ")),
            report_area,
        );
    }
}

fn verify_lines(s: &State) -> Vec<Line<'static>> {
    match &s.audit.verify {
        Verify::NotRun => Vec::new(),
        Verify::Running => vec![Line::from("verifying the hash chain…")],
        Verify::Done(Err(e)) => {
            vec![Line::from(format!("verification could not run: {e}")).fg(Color::Red)]
        }
        Verify::Done(Ok(r)) if r.problems.is_empty() => vec![Line::from(format!(
            "intact: {} entries, every hash and link checks; head {}",
            r.entries,
            r.head.hash_hex()
        ))
        .fg(Color::Green)],
        Verify::Done(Ok(r)) => {
            let mut v = vec![Line::from(format!(
                "BROKEN: {} problem(s) in {} entries",
                r.problems.len(),
                r.entries
            ))
            .fg(Color::Red)
            .bold()];
            v.extend(
                r.problems
                    .iter()
                    .map(|p| Line::from(p.to_string()).fg(Color::Red)),
            );
            v
        }
    }
}
