//! The Orders tab: every order (filtered with `/`), the selected one's
//! authorized addresses; `n` adds one, `l` loads its shipped serials.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::tui::acts::filtered_orders;
use crate::tui::app::State;

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let [list, detail] = Layout::vertical([Constraint::Min(5), Constraint::Length(5)]).areas(area);
    let orders = match &s.acts.orders {
        None => {
            return f.render_widget(
                Paragraph::new("reading the orders…").block(Block::bordered()),
                area,
            )
        }
        Some(Err(e)) => {
            return f.render_widget(
                Paragraph::new(format!("cannot read the orders: {e}"))
                    .fg(Color::Red)
                    .wrap(Wrap { trim: true })
                    .block(Block::bordered()),
                area,
            )
        }
        Some(Ok(o)) => o,
    };
    let shown = filtered_orders(s);
    let header = Row::new(["Order", "Customer", "Serials", "Recorded", "By"]).bold();
    let rows = shown.iter().map(|o| {
        Row::new(vec![
            o.id.clone(),
            o.customer.clone(),
            o.serials.to_string(),
            o.created_at.get(..10).unwrap_or(&o.created_at).to_owned(),
            o.created_by.clone(),
        ])
    });
    let widths = [
        Constraint::Length(10),
        Constraint::Min(12),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(12),
    ];
    let filter = if s.acts.order_filter.is_empty() {
        String::new()
    } else {
        format!(" · filter \"{}\"", s.acts.order_filter)
    };
    let title = format!(
        " Orders · {} of {}{filter} · n add · l load serials · / filter ",
        shown.len(),
        orders.len()
    );
    let mut ts = TableState::default().with_selected(Some(s.acts.order_sel));
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(Style::new().reversed())
            .block(Block::bordered().title(title)),
        list,
        &mut ts,
    );
    let lines = match shown.get(s.acts.order_sel) {
        None if orders.is_empty() => vec![Line::from(
            "No orders yet: n adds one (id, customer, the e-mails allowed to request its seeds).",
        )],
        None => vec![Line::from("No order matches the filter (/ changes it).")],
        Some(o) => vec![
            Line::from(format!("Order {} for {}", o.id, o.customer)).bold(),
            Line::from(format!("May request seeds: {}", o.emails.join(", "))),
            Line::from(format!("{} serial(s) shipped in it", o.serials)),
        ],
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered()),
        detail,
    );
}
