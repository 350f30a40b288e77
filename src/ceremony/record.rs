//! What a ceremony leaves: its audit entries, read back for `ceremony
//! show` and `ceremony list`, and its transcript on the record medium.
//!
//! The log is the record; the transcript is a rendering of it. Each
//! `ceremony.*` entry carries the time the step was initialled (`time` in
//! its data), which for the steps of a key ceremony before `init` is
//! earlier than the entry's own `time`: those steps are held in memory
//! until the vault exists and logged right after its genesis entry.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{events, Event};
use crate::vault::{Vault, VaultError};

/// A person in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Their role's id.
    pub role: String,
    /// Their name.
    pub name: String,
    /// Their initials (2 to 4 capital letters).
    pub initials: String,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepResult {
    /// People did it; the witness initialled it.
    Done,
    /// The tool did it.
    Ok,
    /// The tool refused or failed (an exception follows).
    Failed,
    /// The people step was not done (an exception follows).
    NotDone,
}

impl StepResult {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Done => "done",
            StepResult::Ok => "ok",
            StepResult::Failed => "failed",
            StepResult::NotDone => "not-done",
        }
    }
}

/// One step as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step number.
    pub step: usize,
    /// The activity as printed.
    pub activity: String,
    /// The tool action, if a tool step.
    pub action: Option<String>,
    /// What the tool reported (batch id, request id, file...), never a secret.
    pub detail: Option<String>,
    /// The witness's initials.
    pub initials: String,
    /// When they initialled it (RFC 3339 UTC).
    pub time: String,
    /// How it ended.
    pub result: StepResult,
}

/// An exception: a step that failed or was not done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExceptionRecord {
    /// The step.
    pub step: usize,
    /// The administrator's reason.
    pub reason: String,
    /// The tool's error message, if the tool failed.
    pub error: Option<String>,
    /// The witness's initials confirming it.
    pub witness_initials: String,
    /// When.
    pub time: String,
}

/// How the ceremony ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every step was walked.
    Completed,
    /// A step whose script says `on_failure = "abort"` failed, or the
    /// answers ran out.
    Aborted,
}

impl Outcome {
    /// As logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Aborted => "aborted",
        }
    }
}

/// A ceremony, from its start to (if it got there) its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeremonyRecord {
    /// Its id (16 hex digits).
    pub ceremony_id: String,
    /// The script's file name.
    pub script: String,
    /// SHA-256 of the script file.
    pub script_sha256: String,
    /// Its title.
    pub title: String,
    /// The roles `{id, title}`.
    pub roles: Vec<(String, String)>,
    /// Who was there.
    pub participants: Vec<Participant>,
    /// The script's variables as bound.
    pub vars: std::collections::BTreeMap<String, String>,
    /// When it started.
    pub started_at: String,
    /// The steps walked.
    pub steps: Vec<StepRecord>,
    /// The exceptions.
    pub exceptions: Vec<ExceptionRecord>,
    /// How it ended (`None`: not finished, e.g. interrupted).
    pub outcome: Option<Outcome>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// The transcript's file name and SHA-256, as `ceremony.finished` logs them.
    pub transcript: Option<(String, String)>,
}

impl CeremonyRecord {
    /// The participant in `role` with these initials.
    pub fn participant(&self, role: &str, initials: &str) -> Option<&Participant> {
        self.participants
            .iter()
            .find(|p| p.role == role && p.initials == initials)
    }

    /// Name of the participant with these initials (for the entry's actors).
    fn actor(&self, initials: &str) -> Vec<String> {
        self.participants
            .iter()
            .filter(|p| p.initials == initials)
            .map(|p| p.name.clone())
            .collect()
    }

    /// The `ceremony.started` event.
    pub fn started_event(&self) -> Event {
        let roles: Vec<_> = self
            .roles
            .iter()
            .map(|(id, title)| json!({ "id": id, "title": title }))
            .collect();
        Event {
            kind: events::CEREMONY_STARTED,
            actors: self.participants.iter().map(|p| p.name.clone()).collect(),
            data: json!({
                "ceremony_id": self.ceremony_id,
                "script": self.script,
                "script_sha256": self.script_sha256,
                "title": self.title,
                "roles": roles,
                "participants": self.participants,
                "vars": self.vars,
                "time": self.started_at,
            }),
        }
    }

    /// The `ceremony.step` event of step record `s`.
    pub fn step_event(&self, s: &StepRecord) -> Event {
        Event {
            kind: events::CEREMONY_STEP,
            actors: self.actor(&s.initials),
            data: json!({
                "ceremony_id": self.ceremony_id,
                "step": s.step,
                "activity": s.activity,
                "action": s.action,
                "detail": s.detail,
                "initials": s.initials,
                "time": s.time,
                "result": s.result,
            }),
        }
    }

    /// The `ceremony.exception` event of `x`.
    pub fn exception_event(&self, x: &ExceptionRecord) -> Event {
        Event {
            kind: events::CEREMONY_EXCEPTION,
            actors: self.actor(&x.witness_initials),
            data: json!({
                "ceremony_id": self.ceremony_id,
                "step": x.step,
                "reason": x.reason,
                "error": x.error,
                "witness_initials": x.witness_initials,
                "time": x.time,
            }),
        }
    }

    /// The `ceremony.finished` event.
    pub fn finished_event(&self) -> Event {
        let (file, sha) = match &self.transcript {
            Some((f, s)) => (Some(f.clone()), Some(s.clone())),
            None => (None, None),
        };
        Event {
            kind: events::CEREMONY_FINISHED,
            actors: Vec::new(),
            data: json!({
                "ceremony_id": self.ceremony_id,
                "result": self.outcome.map(Outcome::as_str),
                "steps": self.steps.len(),
                "exceptions": self.exceptions.len(),
                "time": self.finished_at,
                "transcript": file,
                "transcript_sha256": sha,
            }),
        }
    }
}

fn text(d: &serde_json::Value, k: &str) -> String {
    d.get(k)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn opt_text(d: &serde_json::Value, k: &str) -> Option<String> {
    d.get(k)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Every ceremony in the log, in the order they started, rebuilt from the
/// `ceremony.*` entries alone (what `audit verify` vouches for).
pub fn ceremonies(vault: &Vault) -> Result<Vec<CeremonyRecord>, VaultError> {
    let conn = vault.store().conn();
    let mut stmt = conn.prepare(
        "SELECT body FROM audit
         WHERE json_valid(CAST(body AS TEXT))
           AND json_extract(CAST(body AS TEXT), '$.event') LIKE 'ceremony.%'
         ORDER BY seq",
    )?;
    let bodies = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Vec<CeremonyRecord> = Vec::new();
    for body in bodies {
        let Ok(e) = serde_json::from_slice::<serde_json::Value>(&body) else {
            continue;
        };
        let d = &e["data"];
        let id = text(d, "ceremony_id");
        let event = text(&e, "event");
        if event == events::CEREMONY_STARTED {
            let roles = d["roles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| (text(r, "id"), text(r, "title")))
                        .collect()
                })
                .unwrap_or_default();
            out.push(CeremonyRecord {
                ceremony_id: id,
                script: text(d, "script"),
                script_sha256: text(d, "script_sha256"),
                title: text(d, "title"),
                roles,
                participants: serde_json::from_value(d["participants"].clone()).unwrap_or_default(),
                vars: serde_json::from_value(d["vars"].clone()).unwrap_or_default(),
                started_at: text(d, "time"),
                steps: Vec::new(),
                exceptions: Vec::new(),
                outcome: None,
                finished_at: None,
                transcript: None,
            });
            continue;
        }
        let Some(c) = out.iter_mut().rev().find(|c| c.ceremony_id == id) else {
            continue;
        };
        match event.as_str() {
            events::CEREMONY_STEP => c.steps.push(StepRecord {
                step: d["step"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                activity: text(d, "activity"),
                action: opt_text(d, "action"),
                detail: opt_text(d, "detail"),
                initials: text(d, "initials"),
                time: text(d, "time"),
                result: serde_json::from_value(d["result"].clone()).unwrap_or(StepResult::Failed),
            }),
            events::CEREMONY_EXCEPTION => c.exceptions.push(ExceptionRecord {
                step: d["step"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                reason: text(d, "reason"),
                error: opt_text(d, "error"),
                witness_initials: text(d, "witness_initials"),
                time: text(d, "time"),
            }),
            events::CEREMONY_FINISHED => {
                c.outcome = serde_json::from_value(d["result"].clone()).ok();
                c.finished_at = opt_text(d, "time");
                c.transcript = opt_text(d, "transcript").zip(opt_text(d, "transcript_sha256"));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The ceremony `id` (a unique prefix of at least 4 digits is enough).
pub fn ceremony(vault: &Vault, id: &str) -> Result<CeremonyRecord, VaultError> {
    let id = id.trim().to_ascii_lowercase();
    let all = ceremonies(vault)?;
    let found: Vec<_> = all
        .into_iter()
        .filter(|c| id.len() >= 4 && c.ceremony_id.starts_with(&id))
        .collect();
    match found.len() {
        1 => found
            .into_iter()
            .next()
            .ok_or_else(|| VaultError::Refused(format!("no ceremony {id} in the log"))),
        0 => Err(VaultError::Refused(format!(
            "no ceremony {id} in the log (see `seedvault ceremony list`)"
        ))),
        n => Err(VaultError::Refused(format!(
            "{n} ceremonies start with {id}; give more digits"
        ))),
    }
}

/// Writes `bytes` to the new file `path` on a medium: under a temporary
/// name, fsynced, linked into place (never replacing a file), the
/// directory synced, then read back and compared.
pub fn write_to_medium(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| VaultError::Io { path: p, source }
    };
    let tmp: PathBuf = path.with_extension("partial");
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| VaultError::creating(&tmp, e))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| VaultError::creating(path, e))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    let mut back = Vec::new();
    fs::File::open(path)
        .and_then(|mut f| {
            // Advice only: where the kernel follows it, the bytes compared
            // are the medium's, not the copy still in the page cache.
            let _ = rustix::fs::fadvise(&f, 0, 0, rustix::fs::Advice::DontNeed);
            f.read_to_end(&mut back)
        })
        .map_err(io(path))?;
    if back != bytes {
        return Err(VaultError::ReadBackMismatch {
            path: path.to_owned(),
        });
    }
    Ok(())
}
