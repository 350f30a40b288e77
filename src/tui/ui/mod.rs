//! Drawing: pure functions of [`State`]. No I/O, no crypto, no clock
//! reads; the time shown is the time the event loop put in the state.

mod acts;
mod audit;
mod batches;
mod confirm;
mod export;
mod help;
mod ingest;
mod orders;
mod overview;
mod requests;
mod unseal;

pub use audit::{audit_rows, entry_lines, entry_rows};
pub use help::{help_lines, help_rows};

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::Frame;

use super::app::{Session, State, Tab};

/// A count of lines as a terminal height, saturating: a screen is far
/// smaller than u16::MAX rows, and ratatui clips what does not fit.
pub(crate) fn rows(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// `m:ss` (or `h:mm:ss`).
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A countdown shows whole seconds rounded up, so it reads 0:01 until the
/// moment the session seals, never 0:00 while the key is still held.
fn round_up(d: Duration) -> Duration {
    Duration::from_secs(u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX))
}

/// Whether the status says this is a test vault.
fn is_test_vault(s: &State) -> bool {
    matches!(&s.status, Some(Ok(st)) if st.test_vault)
}

/// Draws the whole screen.
pub fn render(f: &mut Frame, s: &State) {
    let [header, tabs, body, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    render_header(f, header, s);
    let titles: Vec<Line> = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!(" {} {} ", i + 1, t.title())))
        .collect();
    let selected = Tab::ALL.iter().position(|t| *t == s.tab).unwrap_or(0);
    f.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .divider("|"),
        tabs,
    );
    match s.tab {
        Tab::Overview => overview::render(f, body, s),
        Tab::Requests => requests::render(f, body, s),
        Tab::Batches => batches::render(f, body, s),
        Tab::Orders => orders::render(f, body, s),
        Tab::Audit => audit::render(f, body, s),
    }
    render_bar(f, bar, s);
    if let Some(p) = &s.prompt {
        confirm::render_prompt(f, body, p);
    }
    if let Some(d) = &s.dialog {
        unseal::render(f, body, s, d);
    }
    if let Some(w) = &s.ingest {
        ingest::render(f, body, s, w);
    }
    if let Some(d) = &s.export {
        export::render(f, body, s, d);
    }
    acts::render(f, body, s);
    if let Some(c) = &s.confirm {
        confirm::render(f, body, c);
    }
    if s.help.is_some() {
        help::render(f, body, s);
    }
    if s.no_color {
        // Bold, reverse and underline stay: they carry no colour.
        for cell in f.buffer_mut().content.iter_mut() {
            cell.set_fg(Color::Reset).set_bg(Color::Reset);
        }
    }
}

/// The body's height at this viewport (the header, tabs and status bar
/// take a line each).
pub(crate) fn body_height(s: &State) -> usize {
    usize::from(s.viewport.1).saturating_sub(3)
}

/// `text` cut to `width` characters, with `…` when cut.
pub(crate) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A duration in words for a countdown: "3 h 12 min", "2 d 4 h",
/// "12 min", "under a minute".
pub fn countdown(secs: i64) -> String {
    let m = secs / 60;
    match secs {
        s if s < 60 => "under a minute".into(),
        s if s < 3600 => format!("{m} min"),
        s if s < 86_400 => format!("{} h {} min", m / 60, m % 60),
        _ => format!("{} d {} h", m / 1440, m / 60 % 24),
    }
}

fn render_header(f: &mut Frame, area: Rect, s: &State) {
    let mut spans = vec![
        Span::from(" seedvault ").bold(),
        Span::from(format!("vault {}", s.vault_dir.display())),
    ];
    if is_test_vault(s) {
        spans.push(Span::from("  "));
        spans.push(
            Span::from(" TEST VAULT: NEVER FOR REAL SEEDS ")
                .style(Style::new().fg(Color::White).bg(Color::Red).bold()),
        );
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The seal state in words, with its style (shared with the overview).
pub(super) fn session_line(s: &State) -> Line<'static> {
    match &s.session {
        Session::Sealed => Line::from(vec![
            Span::from(" SEALED ").style(Style::new().fg(Color::Black).bg(Color::Green).bold()),
            Span::from(" no key in memory; u to unseal"),
        ]),
        Session::Unsealing => Line::from(vec![
            Span::from(" UNSEALING ").style(Style::new().fg(Color::Black).bg(Color::Yellow).bold()),
            Span::from(" opening cards"),
        ]),
        Session::Sealing => Line::from(vec![
            Span::from(" SEALING ").style(Style::new().fg(Color::Black).bg(Color::Yellow).bold()),
            Span::from(" wiping the key"),
        ]),
        Session::Unsealed { officers, .. } => Line::from(vec![
            Span::from(" UNSEALED ").style(Style::new().fg(Color::White).bg(Color::Red).bold()),
            Span::from(format!(
                " by {} · seals in {} idle",
                officers.join(", "),
                clock(round_up(s.idle_left().unwrap_or_default()))
            )),
        ]),
    }
}

fn render_bar(f: &mut Frame, area: Rect, s: &State) {
    let mut line = session_line(s);
    line.spans.push(Span::from("  "));
    match &s.notice {
        Some(n) if n.error => line
            .spans
            .push(Span::from(n.text.clone()).style(Style::new().fg(Color::Red).bold())),
        Some(n) => line.spans.push(Span::from(n.text.clone())),
        None if s.refreshing => line.spans.push(Span::from("re-reading…").dim()),
        None => line.spans.push(Span::from("? help · q quit").dim()),
    }
    f.render_widget(Paragraph::new(line), area);
}

/// A rectangle of `w` x `h` centred in `area` (clamped to it).
pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A spinner frame from the time since `since` (no clock read here).
pub(super) fn spinner(s: &State, since: std::time::Instant) -> &'static str {
    const FRAMES: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];
    let ticks = s.now.saturating_duration_since(since).as_millis() / 120;
    let i = usize::try_from(ticks % 8).unwrap_or(0);
    FRAMES.get(i).copied().unwrap_or("·")
}
