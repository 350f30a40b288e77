//! The Audit log tab: one page of the log (read by `seq`, never all of
//! it), one entry's JSON scrolled by page, and the results of verify,
//! replay, checkpoint and export.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::fit;
use crate::tui::app::{Check, State};

/// Most lines the results area takes.
const REPORT_MAX: usize = 6;

/// Lines of the results area (verify, replay, progress, what was written).
fn report_lines(s: &State) -> Vec<Line<'static>> {
    let mut v: Vec<Line> = Vec::new();
    if let Some((what, done, total)) = s.audit.progress {
        let pct = done.saturating_mul(100).checked_div(total).unwrap_or(100);
        v.push(Line::from(format!(
            "{what}: {done} of {total} entries ({pct}%)"
        )));
    }
    match &s.audit.verify {
        Check::NotRun => {}
        Check::Running => v.push(Line::from("verifying the hash chain…")),
        Check::Done(Err(e)) => {
            v.push(Line::from(format!("verification could not run: {}", e.message)).fg(Color::Red))
        }
        Check::Done(Ok(r)) if r.problems.is_empty() => v.push(
            Line::from(format!(
                "verify: intact, {} entries, every hash and link checks",
                r.entries
            ))
            .fg(Color::Green),
        ),
        Check::Done(Ok(r)) => {
            v.push(
                Line::from(format!(
                    "verify: CHAIN BROKEN, {} problem(s) in {} entries (marked !)",
                    r.problems.len(),
                    r.entries
                ))
                .fg(Color::Red)
                .bold(),
            );
            v.extend(
                r.problems
                    .iter()
                    .take(3)
                    .map(|p| Line::from(format!("  {p}")).fg(Color::Red)),
            );
        }
    }
    match &s.audit.replay {
        Check::NotRun => {}
        Check::Running => v.push(Line::from("replaying the log…")),
        Check::Done(Err(e)) => {
            v.push(Line::from(format!("replay could not run: {}", e.message)).fg(Color::Red))
        }
        Check::Done(Ok(r)) if r.differences.is_empty() => v.push(
            Line::from(format!(
                "replay: the log rebuilds the vault exactly ({} entries)",
                r.entries
            ))
            .fg(Color::Green),
        ),
        Check::Done(Ok(r)) => {
            v.push(
                Line::from(format!(
                    "replay: DIFFERS from the vault, {} difference(s)",
                    r.differences.len()
                ))
                .fg(Color::Red)
                .bold(),
            );
            v.extend(
                r.differences
                    .iter()
                    .take(2)
                    .map(|d| Line::from(format!("  {d}")).fg(Color::Red)),
            );
        }
    }
    match &s.audit.wrote {
        None => {}
        Some(Ok(w)) => v.push(Line::from(format!("written: {w}")).fg(Color::Green)),
        Some(Err(e)) => {
            v.push(Line::from(e.message.clone()).fg(Color::Red).bold());
            if let Some(a) = e.advice {
                v.push(Line::from(format!("→ {a}")));
            }
        }
    }
    v.truncate(REPORT_MAX);
    v
}

fn report_height(s: &State) -> usize {
    match report_lines(s).len() {
        0 => 0,
        n => n + 2,
    }
}

/// Rows of entries the list shows at the current viewport.
pub fn audit_rows(s: &State) -> usize {
    // Borders (2) and the column header (1).
    super::body_height(s)
        .saturating_sub(report_height(s))
        .saturating_sub(3)
        .max(1)
}

/// Lines of the entry view at the current viewport.
pub fn entry_rows(s: &State) -> usize {
    super::body_height(s).saturating_sub(2).max(1)
}

/// The open entry's JSON, cut into lines of the view's width (long values
/// such as signatures continue on the next line).
pub fn entry_lines(s: &State) -> Vec<String> {
    let width = usize::from(s.viewport.0).saturating_sub(2).max(10);
    let mut out = Vec::new();
    for line in s.audit.opened.lines() {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for chunk in chars.chunks(width) {
            out.push(chunk.iter().collect());
        }
    }
    out
}

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let page = match &s.audit.page {
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
        Some(Ok(p)) => p,
    };
    if let (Some(scroll), Some(e)) = (s.audit.open, page.entries.get(s.audit.selected)) {
        let lines = entry_lines(s);
        let rows = entry_rows(s);
        let end = (scroll + rows).min(lines.len());
        let shown: Vec<Line> = lines
            .get(scroll..end)
            .unwrap_or_default()
            .iter()
            .map(|l| Line::from(l.clone()))
            .collect();
        let title = format!(" Entry {} · {} ", e.seq, e.event);
        let pos = format!(
            " lines {}–{} of {} · Esc back ",
            scroll + 1,
            end,
            lines.len()
        );
        f.render_widget(
            Paragraph::new(shown).block(Block::bordered().title(title).title_bottom(pos)),
            area,
        );
        return;
    }
    let report = report_lines(s);
    let [list_area, report_area] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(super::rows(report_height(s))),
    ])
    .areas(area);

    let bad: Vec<u64> = match &s.audit.verify {
        Check::Done(Ok(r)) => r.problems.iter().map(|p| p.seq).collect(),
        _ => Vec::new(),
    };
    let rows = page.entries.iter().map(|e| {
        let broken = bad.contains(&e.seq);
        let row = Row::new(vec![
            format!("{}{:>7}", if broken { "!" } else { " " }, e.seq),
            e.time.clone(),
            fit(&e.event, 24),
            e.actors.join(", "),
        ]);
        if broken {
            row.fg(Color::Red)
        } else {
            row
        }
    });
    let total = match &s.status {
        Some(Ok(st)) => st.audit.entries.to_string(),
        _ => "?".into(),
    };
    let span = match (page.first_seq(), page.last_seq()) {
        (Some(a), Some(b)) => format!("{a}–{b} of {total}"),
        _ => "no entries".into(),
    };
    let title = match &s.audit.filter {
        Some(fl) => format!(" Audit log · {fl} · {span} "),
        None => format!(" Audit log · {span} "),
    };
    let table =
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(20),
                Constraint::Length(24),
                Constraint::Min(8),
            ],
        )
        .header(Row::new(vec!["     seq", "time (UTC)", "event", "actors"]).bold())
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("")
        .block(Block::bordered().title(title).title_bottom(
            " Enter open · / filter · v verify · p replay · c checkpoint · x export ",
        ));
    let mut ts = TableState::default().with_selected(Some(s.audit.selected));
    f.render_stateful_widget(table, list_area, &mut ts);
    if page.entries.is_empty() {
        let msg = if s.audit.filter.is_some() {
            "no entry matches the filter (Esc clears it)"
        } else {
            "the log is empty"
        };
        let inner = Block::bordered().inner(list_area);
        f.render_widget(
            Paragraph::new(msg),
            Rect {
                y: inner.y + 1,
                height: 1,
                ..inner
            },
        );
    }
    if !report.is_empty() {
        f.render_widget(
            Paragraph::new(report).block(Block::bordered().title(" Checks ")),
            report_area,
        );
    }
}
