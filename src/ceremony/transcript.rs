//! The two paper forms of a ceremony: the script as printed before it
//! (blank Initials and Time columns, as the IANA root KSK ceremony
//! scripts are), and the transcript after it (the same table filled in,
//! then the exceptions). Plain text, 78 columns, no trailing spaces (the
//! cleartext signature framework would drop them), so the transcript that
//! was signed and the one `ceremony show` rebuilds from the log are the
//! same bytes.

use super::record::{CeremonyRecord, StepResult};
use super::script::{Script, StepKind};

const ACTIVITY: usize = 44;

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn row(out: &mut String, step: &str, activity: &str, initials: &str, time: &str) {
    for (i, a) in wrap(activity, ACTIVITY).iter().enumerate() {
        let (s, ini, t) = if i == 0 {
            (step, initials, time)
        } else {
            ("", "", "")
        };
        let l = format!("{s:>4} | {a:<ACTIVITY$} | {ini:<8} | {t}");
        out.push_str(l.trim_end());
        out.push('\n');
    }
}

fn header(out: &mut String) {
    row(out, "Step", "Activity", "Initials", "Time");
    out.push_str(&format!("{}\n", "-".repeat(78)));
}

/// `ceremony print`: the script as the paper the room initials.
pub fn paper(script: &Script) -> String {
    let mut out = String::new();
    out.push_str(&format!("{}\n", script.title));
    out.push_str(&format!(
        "Script {} (SHA-256 {})\n\n",
        script.name, script.sha256
    ));
    if let Some(d) = &script.description {
        for l in wrap(d, 78) {
            out.push_str(&format!("{l}\n"));
        }
        out.push('\n');
    }
    out.push_str("Participants (name, initials, signature)\n");
    for r in &script.roles {
        for i in 1..=r.count {
            let n = if r.count > 1 {
                format!(" {i}")
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  {:<6} {:<28} ______________________________\n",
                format!("{}{n}", r.id),
                r.title
            ));
        }
    }
    let roles = format!(
        "The {} ({}) initials every step; the {} ({}) records each exception.",
        role_title(script, &script.witness),
        script.witness,
        role_title(script, &script.administrator),
        script.administrator
    );
    for l in wrap(&roles, 78) {
        out.push_str(&format!("{l}\n"));
    }
    if !script.vars.is_empty() {
        out.push_str("\nVariables\n");
        for (k, v) in &script.vars {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push('\n');
    header(&mut out);
    for s in &script.steps {
        let mut activity = s.activity.clone();
        if let StepKind::Tool { action, .. } = &s.kind {
            activity.push_str(&format!(" [tool: {}]", action.name()));
        }
        row(&mut out, &s.number.to_string(), &activity, "", "");
        out.push('\n');
    }
    out.push_str("\nExceptions (step, what happened, CA and IW initials)\n\n");
    for _ in 0..3 {
        out.push_str(&format!("{}\n\n", "_".repeat(78)));
    }
    out
}

fn role_title<'a>(script: &'a Script, id: &str) -> &'a str {
    script
        .roles
        .iter()
        .find(|r| r.id == id)
        .map_or("", |r| r.title.as_str())
}

/// The transcript of ceremony `c` of vault `vault_id`: what is signed at
/// the end and what `ceremony show` prints.
pub fn transcript(c: &CeremonyRecord, vault_id: &str) -> String {
    let mut out = String::new();
    out.push_str("SEEDVAULT CEREMONY TRANSCRIPT\n\n");
    out.push_str(&format!("Title:     {}\n", c.title));
    out.push_str(&format!("Ceremony:  {}\n", c.ceremony_id));
    out.push_str(&format!("Vault:     {vault_id}\n"));
    out.push_str(&format!("Script:    {}\n", c.script));
    out.push_str(&format!("SHA-256:   {}\n", c.script_sha256));
    out.push_str(&format!("Started:   {}\n", c.started_at));
    let result = c
        .outcome
        .map_or("NOT FINISHED (interrupted)", |o| o.as_str());
    match &c.finished_at {
        Some(t) => out.push_str(&format!("Finished:  {t}, {result}\n")),
        None => out.push_str(&format!("Finished:  {result}\n")),
    }
    out.push_str(&format!(
        "Steps:     {} walked, {} exception(s)\n\nParticipants\n",
        c.steps.len(),
        c.exceptions.len()
    ));
    for p in &c.participants {
        let title = c
            .roles
            .iter()
            .find(|(id, _)| *id == p.role)
            .map_or("", |(_, t)| t.as_str());
        out.push_str(&format!(
            "  {:<4} {:<26} {} ({})\n",
            p.role, title, p.name, p.initials
        ));
    }
    if !c.vars.is_empty() {
        out.push_str("\nVariables\n");
        for (k, v) in &c.vars {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out.push('\n');
    header(&mut out);
    for s in &c.steps {
        let mut activity = s.activity.clone();
        if let Some(a) = &s.action {
            activity.push_str(&format!(" [tool: {a}]"));
        }
        match s.result {
            StepResult::Ok | StepResult::Done => {}
            other => activity.push_str(&format!(
                " [{}: see exception]",
                other.as_str().to_uppercase()
            )),
        }
        if let Some(d) = &s.detail {
            activity.push_str(&format!(" -> {d}"));
        }
        row(
            &mut out,
            &s.step.to_string(),
            &activity,
            &s.initials,
            &s.time,
        );
    }
    out.push_str("\nExceptions\n");
    if c.exceptions.is_empty() {
        out.push_str("  none\n");
    }
    for x in &c.exceptions {
        out.push_str(&format!(
            "  Step {} at {}, confirmed by witness {}\n",
            x.step, x.time, x.witness_initials
        ));
        for l in wrap(&format!("Reason: {}", x.reason), 72) {
            out.push_str(&format!("    {l}\n"));
        }
        if let Some(e) = &x.error {
            for l in wrap(&format!("Tool: {e}"), 72) {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_activities_wrap_and_no_line_ends_in_a_space() {
        let mut out = String::new();
        row(
            &mut out,
            "3",
            &"word ".repeat(30),
            "AB",
            "2026-11-29T10:00:00Z",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 2);
        assert!(lines[0].ends_with("AB       | 2026-11-29T10:00:00Z"));
        assert!(out.lines().all(|l| l == l.trim_end()));
    }
}
