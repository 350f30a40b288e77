//! The Requests tab: every seed request, newest first, with what it waits
//! for, selectable: `n` creates one, `a` approves and `x` rejects the
//! selected one (each with one officer's card). The selected request's
//! recipient fingerprint is shown in groups of four, for the approver to
//! compare with the customer, and its approval's expiry as a countdown.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};
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
            "{} pending approval: a second officer approves (a) or rejects (x).",
            waiting(RequestStateKind::Pending)
        )),
        Line::from(format!(
            "{} approved: export (e) before the approval expires. n creates a request.",
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
    let [top, list, detail] = Layout::vertical([
        Constraint::Length(super::rows(summary.len())),
        Constraint::Min(4),
        Constraint::Length(6),
    ])
    .areas(area);
    f.render_widget(
        Paragraph::new(summary).wrap(ratatui::widgets::Wrap { trim: true }),
        top,
    );

    let header = Row::new([
        "Request", "Order", "State", "Serials", "Format", "Created", "Decided", "Expiry",
    ])
    .bold();
    let rows = requests.iter().rev().map(|r| {
        let (state, style) = state_of(r, s.read_at);
        Row::new(vec![
            r.id.clone(),
            r.order_id.clone(),
            state,
            r.serials.to_string(),
            r.format.name().to_owned(),
            r.created_by.clone(),
            r.decided_by.clone().unwrap_or_default(),
            r.state
                .expires_at()
                .filter(|_| r.state.kind() == RequestStateKind::Approved)
                .map(|e| countdown(e, s.read_at))
                .unwrap_or_default(),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Min(10),
    ];
    let title = format!(
        " Seed requests · {} · n new · a approve · x reject ",
        requests.len()
    );
    let mut ts = TableState::default().with_selected(Some(s.acts.request_sel));
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .block(Block::bordered().title(title)),
        list,
        &mut ts,
    );
    let lines = match crate::tui::acts::selected_request(s) {
        None => vec![Line::from("No seed requests yet: n creates one.")],
        Some(r) => vec![
            Line::from(format!(
                "{} for {} · created by {} · {}",
                r.id,
                r.requester,
                r.created_by,
                note(r, s.read_at)
            )),
            Line::from("Recipient fingerprint (compare with the customer):"),
            Line::from(
                Span::from(format!(
                    "  {}",
                    super::acts::grouped(&r.recipient_fingerprint)
                ))
                .style(Style::new().add_modifier(Modifier::BOLD).fg(Color::Yellow)),
            ),
        ],
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(Block::bordered()),
        detail,
    );
}

/// "expires in 3 h 12 min", "expired 5 min ago" (`now` and `expires_at`
/// in unix seconds).
pub(super) fn countdown(expires_at: i64, now: i64) -> String {
    let d = expires_at - now;
    let span = |s: i64| {
        let (h, m) = (s / 3600, (s % 3600) / 60);
        if h > 0 {
            format!("{h} h {m} min")
        } else if m > 0 {
            format!("{m} min")
        } else {
            format!("{s} s")
        }
    };
    if d > 0 {
        format!("expires in {}", span(d))
    } else {
        format!("expired {} ago", span(-d))
    }
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
        parts.push(countdown(expires_at, now));
    }
    if let Some(why) = r.state.reject_reason() {
        parts.push(format!("rejected: {why}"));
    }
    if let Some(why) = &r.reexport_reason {
        parts.push(format!("re-export: {why}"));
    }
    if parts.is_empty() {
        parts.push(r.state.kind().to_string());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::countdown;

    #[test]
    fn countdown_reads_as_hours_and_minutes_either_way() {
        let now = 1_800_000_000;
        assert_eq!(
            countdown(now + 3 * 3600 + 12 * 60 + 10, now),
            "expires in 3 h 12 min"
        );
        assert_eq!(countdown(now + 59, now), "expires in 59 s");
        assert_eq!(countdown(now - 5 * 60, now), "expired 5 min ago");
        assert_eq!(countdown(now, now), "expired 0 s ago");
    }
}
