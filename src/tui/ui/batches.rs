//! The Batches tab: every ingested batch, and a serial looked up with `/`
//! (its state, parameters, batch, order, exports and history: the
//! library's `serial_record`, which never holds the secret).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::tui::app::State;
use crate::vault::SerialRecord;

pub(super) fn render(f: &mut Frame, area: Rect, s: &State) {
    let [list, serial] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(6)]).areas(area);
    match &s.acts.batches {
        None => f.render_widget(
            Paragraph::new("reading the batches…").block(Block::bordered()),
            list,
        ),
        Some(Err(e)) => f.render_widget(
            Paragraph::new(format!("cannot read the batches: {e}"))
                .fg(Color::Red)
                .wrap(Wrap { trim: true })
                .block(Block::bordered()),
            list,
        ),
        Some(Ok(b)) => {
            let header = Row::new([
                "Batch", "Label", "Format", "Tokens", "Ingested", "Officers", "SHA-256",
            ])
            .bold();
            let rows = b.iter().map(|b| {
                Row::new(vec![
                    b.id.to_string(),
                    b.label.clone().unwrap_or_default(),
                    b.format.clone(),
                    b.count.to_string(),
                    b.created_at.get(..10).unwrap_or(&b.created_at).to_owned(),
                    b.officers.join(", "),
                    b.source_sha256
                        .get(..12)
                        .unwrap_or(&b.source_sha256)
                        .to_owned(),
                ])
            });
            let widths = [
                Constraint::Length(5),
                Constraint::Min(6),
                Constraint::Length(11),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(12),
            ];
            let mut ts = TableState::default().with_selected(Some(s.acts.batch_sel));
            f.render_stateful_widget(
                Table::new(rows, widths)
                    .header(header)
                    .row_highlight_style(Style::new().reversed())
                    .block(Block::bordered().title(format!(" Batches · {} ", b.len()))),
                list,
                &mut ts,
            );
        }
    }
    let mut lines: Vec<Line> = Vec::new();
    let title = match &s.acts.serial {
        None => {
            lines.push(Line::from(
                "/ looks up a serial: state, parameters, batch, order, exports, history.",
            ));
            lines.push(
                Line::from(
                    "x voids the serial shown (one officer's card): it can never be exported.",
                )
                .dim(),
            );
            " Serial ".to_owned()
        }
        Some((q, Err(e))) => {
            for l in e.lines() {
                lines.push(Line::from(l.to_owned()).fg(Color::Red).bold());
            }
            format!(" Serial {} ", q.trim())
        }
        Some((_, Ok(r))) => {
            record_lines(r, &mut lines);
            format!(" Serial {} · x void ", r.serial)
        }
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title)),
        serial,
    );
}

fn record_lines(r: &SerialRecord, lines: &mut Vec<Line<'static>>) {
    let state = Line::from(format!("State    {}", r.state));
    lines.push(if r.state == "voided" {
        state.fg(Color::Red).bold()
    } else {
        state.fg(Color::Green)
    });
    let p = &r.params;
    let kind = match p.kind {
        crate::token::OtpKind::Totp { period } => format!("TOTP every {period} s"),
        crate::token::OtpKind::Hotp { counter } => format!("HOTP from counter {counter}"),
    };
    lines.push(Line::from(format!(
        "Token    {kind}, {} digits, {}{}",
        p.digits,
        p.algorithm,
        match (&p.manufacturer, &p.model) {
            (None, None) => String::new(),
            (m, d) => format!(
                " · {} {}",
                m.as_deref().unwrap_or(""),
                d.as_deref().unwrap_or("")
            ),
        }
    )));
    lines.push(Line::from(format!(
        "Batch    {}{} ({}, ingested {})",
        r.batch_id,
        r.batch_label
            .as_deref()
            .map(|l| format!(" \"{l}\""))
            .unwrap_or_default(),
        r.batch_format,
        r.ingested_at
    )));
    if let Some(why) = &r.void_reason {
        lines.push(
            Line::from(format!(
                "Voided   {} by {}: {why}",
                r.voided_at.as_deref().unwrap_or("?"),
                r.voided_by.as_deref().unwrap_or("?")
            ))
            .fg(Color::Red),
        );
    }
    lines.push(Line::from(format!(
        "Order    {} · exported {} time(s)",
        r.order_id.as_deref().unwrap_or("(none)"),
        r.exports
    )));
    lines.push(Line::from("History").bold());
    for h in r.history.iter().rev() {
        lines.push(Line::from(format!(
            "  #{:<6} {}  {:<18} {}",
            h.seq,
            h.time,
            h.event,
            h.actors.join(", ")
        )));
    }
}
