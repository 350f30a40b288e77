//! The Requests tab: every seed request, newest first, with what it waits
//! for. Approving and exporting stay on the command line, where the cards
//! of the officers involved are given one command at a time.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

use crate::tui::app::State;
use crate::vault::{Request, RequestState, RequestStateKind};

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let requests = match &s.requests {
        None => {
            return f.render_widget(
                Paragraph::new("reading the requests…").block(Block::bordered()),
                area,
            )
        }
        Some(Err(e)) => {
            return f.render_widget(
                Paragraph::new(format!("cannot read the requests: {e}"))
                    .fg(Color::Red)
                    .block(Block::bordered()),
                area,
            )
        }
        Some(Ok(r)) => r,
    };
    let waiting = |kind: RequestStateKind| {
        requests
            .iter()
            .filter(|r| r.state.kind() == kind && !r.approval_expired(s.read_at))
            .count()
    };
    let mut summary = vec![
        Line::from(format!(
            "{} pending approval: a second officer approves (request approve ID) or rejects.",
            waiting(RequestStateKind::Pending)
        )),
        Line::from(format!(
            "{} approved: export (export ID --media DIR) before the approval expires.",
            waiting(RequestStateKind::Approved)
        )),
    ];
    if let Some(Ok(st)) = &s.status {
        for u in &st.unfinished_exports {
            summary.push(
                Line::from(format!(
                    "Export {} of request {} started {} and never completed: check the medium and the log.",
                    u.export_id, u.request_id, u.started_at
                ))
                .fg(Color::Red)
                .bold(),
            );
        }
    }
    let [top, list] = Layout::vertical([
        Constraint::Length(super::rows(summary.len()).saturating_add(1)),
        Constraint::Min(3),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(summary).wrap(ratatui::widgets::Wrap { trim: true }),
        top,
    );

    let header = Row::new([
        "Request",
        "Order",
        "State",
        "Serials",
        "Format",
        "Created by",
        "Decided by",
        "Note",
    ])
    .bold();
    let rows = requests.iter().rev().map(|r| {
        let (state, style) = state_of(r, s.read_at);
        let note = note(r, s.read_at);
        Row::new(vec![
            r.id.clone(),
            r.order_id.clone(),
            state,
            r.serials.to_string(),
            r.format.name().to_owned(),
            r.created_by.clone(),
            r.decided_by.clone().unwrap_or_default(),
            note,
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    let title = format!(" Seed requests · {} ", requests.len());
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title)),
        list,
    );
}

/// The state as an officer needs it, and how loudly to show it.
fn state_of(r: &Request, now: i64) -> (String, Style) {
    match &r.state {
        RequestState::Pending => ("pending approval".into(), Style::new().fg(Color::Yellow)),
        RequestState::Approved { .. } if r.approval_expired(now) => {
            ("approval expired".into(), Style::new().fg(Color::Red))
        }
        RequestState::Approved { .. } => {
            (r.state.to_string(), Style::new().fg(Color::Green).bold())
        }
        RequestState::Rejected { .. } => (r.state.to_string(), Style::new().dim()),
        RequestState::Exported { .. } => (r.state.to_string(), Style::new()),
    }
}

fn note(r: &Request, now: i64) -> String {
    let mut parts = Vec::new();
    if let RequestState::Approved { expires_at } = r.state {
        if expires_at > now {
            parts.push(format!(
                "approval expires in {}",
                super::countdown(expires_at - now)
            ));
        }
    }
    if let Some(why) = r.state.reject_reason() {
        parts.push(format!("rejected: {why}"));
    }
    if let Some(why) = &r.reexport_reason {
        parts.push(format!("re-export: {why}"));
    }
    parts.push(format!("for {}", r.requester));
    parts.join("; ")
}
