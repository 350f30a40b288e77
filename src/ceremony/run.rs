//! Walking a script: one step at a time, in plain lines (a serial
//! terminal is enough), every step initialled by the witness and logged.
//!
//! The walker holds the vault in one of three states: none yet (a key
//! ceremony before its `init` step), sealed (an audit needs no key: its
//! entries are appended as refusals are, in their own transactions), or
//! unsealed by an `unseal` step, held to the end of the ceremony like the
//! console's session and closed with a signed checkpoint. Steps before
//! `init` are kept in memory and logged right after the genesis entry,
//! each with the time it was initialled. The transcript is clearsigned by
//! the vault key when a quorum is held at the end; otherwise it is
//! written unsigned and says so.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::actions;
use super::record::{
    self, CeremonyRecord, ExceptionRecord, Outcome, Participant, StepRecord, StepResult,
};
use super::script::{OnFailure, Script, StepKind};
use super::transcript;
use crate::audit::{self, Event};
use crate::crypto::KdfParams;
use crate::vault::{UnsealedVault, Vault, VaultError};

/// The people at the console: where the walk is shown and answers read.
pub trait Console {
    /// Shows a line (or several).
    fn say(&mut self, text: &str);
    /// Asks for one line; `None` when the input has ended.
    fn ask(&mut self, prompt: &str) -> Option<String>;
    /// The passphrase of `custodian`'s card (`new`: being chosen at
    /// `init`). Never echoed, never logged. `Err` says why none was had.
    fn passphrase(&mut self, custodian: &str, new: bool) -> Result<SecretString, String>;
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The vault directory.
    pub vault_dir: PathBuf,
    /// Where the transcript goes (`None`: shown only).
    pub record_dir: Option<PathBuf>,
    /// The cards' Argon2id cost for an `init` step.
    pub kdf: KdfParams,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The ceremony as recorded.
    pub record: CeremonyRecord,
    /// The transcript file, if written.
    pub transcript_file: Option<PathBuf>,
    /// Whether the vault key signed it.
    pub signed: bool,
    /// Whether a tool step found tampering (the CLI exits 3).
    pub tampering: bool,
    /// Whether the entries are in a vault's log (false: aborted before `init`).
    pub logged: bool,
}

/// Why a ceremony could not be walked at all (as opposed to a step that
/// failed, which is an exception in the record).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The vault could not be opened, or its log not written.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The ceremony did not start; nothing was logged.
    #[error("the ceremony did not start: {0}")]
    NotStarted(String),
}

/// The vault as the walk holds it.
pub(super) enum Held {
    /// No vault yet (key ceremony before `init`).
    None,
    /// Sealed.
    Sealed(Box<Vault>),
    /// Unsealed by an `unseal` step.
    Unsealed(Box<UnsealedVault>),
}

impl Held {
    /// The sealed view, if there is a vault.
    pub(super) fn vault_mut(&mut self) -> Option<&mut Vault> {
        match self {
            Held::None => None,
            Held::Sealed(v) => Some(v),
            Held::Unsealed(u) => Some(u.vault_mut()),
        }
    }
}

/// A failed tool step: its message and whether it is tampering.
#[derive(Debug)]
pub(super) struct StepError {
    pub(super) message: String,
    pub(super) tampering: bool,
}

impl From<VaultError> for StepError {
    fn from(e: VaultError) -> Self {
        StepError {
            tampering: e.is_tampering(),
            message: e.to_string(),
        }
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        StepError {
            message,
            tampering: false,
        }
    }
}

/// What a step needs besides the vault.
pub(super) struct Ctx<'a> {
    pub(super) opts: &'a RunOptions,
    pub(super) console: &'a mut dyn Console,
    pub(super) purpose: String,
    /// The request created by this ceremony's latest `request-create`
    /// (what `request = "@created"` names).
    pub(super) created_request: Option<String>,
}

struct Walk<'a> {
    held: Held,
    record: CeremonyRecord,
    /// Entries waiting for the vault to exist.
    pending: Vec<Event>,
    opts: &'a RunOptions,
}

impl Walk<'_> {
    /// Logs `event` now, or keeps it until `init` made the vault.
    fn log(&mut self, event: Event) -> Result<(), VaultError> {
        match self.held.vault_mut() {
            None => {
                self.pending.push(event);
                Ok(())
            }
            Some(v) => v.log(&event).map(|_| ()),
        }
    }

    /// After `init`: the entries kept so far, right after the genesis.
    fn flush(&mut self) -> Result<(), VaultError> {
        let pending = std::mem::take(&mut self.pending);
        if let Some(v) = self.held.vault_mut() {
            for e in &pending {
                v.log(e)?;
            }
        }
        Ok(())
    }
}

/// Initials: 2 to 4 letters, kept in capitals.
fn initials(s: &str) -> Option<String> {
    let s = s.trim();
    (2..=4)
        .contains(&s.chars().count())
        .then(|| s.to_ascii_uppercase())
        .filter(|u| u.bytes().all(|b| b.is_ascii_uppercase()))
}

fn free_text(what: &str, s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.chars().count() > 500 {
        return Err(format!("{what} is longer than 500 characters"));
    }
    crate::vault::check_free_text(what, s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// Asks until a valid answer (a person may retype); `None` when input ended.
fn ask_valid<T>(
    console: &mut dyn Console,
    prompt: &str,
    mut check: impl FnMut(&str) -> Result<T, String>,
) -> Option<T> {
    loop {
        let line = console.ask(prompt)?;
        match check(&line) {
            Ok(v) => return Some(v),
            Err(why) => console.say(&format!("  not accepted: {why}; again, please")),
        }
    }
}

/// Walks `script`. Returns when the ceremony is completed or aborted;
/// `Err` only when it could not start or its log could not be written.
pub fn run(
    script: &Script,
    opts: &RunOptions,
    console: &mut dyn Console,
) -> Result<RunOutcome, CeremonyError> {
    let id = crate::crypto::random::array::<8>()
        .map(|b| crate::crypto::hex(&b))
        .map_err(|e| CeremonyError::NotStarted(e.to_string()))?;
    if let Some(dir) = &opts.record_dir {
        if !dir.is_dir() {
            return Err(CeremonyError::NotStarted(format!(
                "the record medium {} is not a directory (is it mounted?)",
                dir.display()
            )));
        }
    }
    let held = if script.creates_vault() {
        if opts.vault_dir.join(crate::store::DB_FILE).exists() {
            return Err(CeremonyError::NotStarted(format!(
                "this script creates a vault, and one exists already in {}",
                opts.vault_dir.display()
            )));
        }
        Held::None
    } else {
        Held::Sealed(Box::new(Vault::open(&opts.vault_dir)?))
    };
    console.say(&format!(
        "{}\nscript {} (SHA-256 {})\nceremony {id}\n",
        script.title, script.name, script.sha256
    ));

    // Who is in the room.
    let mut participants: Vec<Participant> = Vec::new();
    for r in &script.roles {
        for i in 1..=r.count {
            let n = if r.count > 1 {
                format!(" {i}")
            } else {
                String::new()
            };
            let prompt = format!("{} ({}){n}: name, initials", r.title, r.id);
            let taken: Vec<String> = participants.iter().map(|p| p.initials.clone()).collect();
            let p = ask_valid(console, &prompt, |line| {
                let (name, ini) = line
                    .rsplit_once(',')
                    .ok_or("give the name, a comma, then the initials (Ann Lee, AL)")?;
                let name = free_text("the name", name)?;
                let ini = initials(ini).ok_or("initials are 2 to 4 letters")?;
                if taken.contains(&ini) {
                    return Err(format!("initials {ini} are someone else's already"));
                }
                Ok(Participant {
                    role: r.id.clone(),
                    name,
                    initials: ini,
                })
            })
            .ok_or_else(|| {
                CeremonyError::NotStarted(
                    "the input ended before every participant was named; nothing was logged".into(),
                )
            })?;
            participants.push(p);
        }
    }

    let mut walk = Walk {
        held,
        record: CeremonyRecord {
            ceremony_id: id.clone(),
            script: script.name.clone(),
            script_sha256: script.sha256.clone(),
            title: script.title.clone(),
            roles: script
                .roles
                .iter()
                .map(|r| (r.id.clone(), r.title.clone()))
                .collect(),
            participants,
            vars: script.vars.clone(),
            started_at: audit::now_rfc3339(),
            steps: Vec::new(),
            exceptions: Vec::new(),
            outcome: None,
            finished_at: None,
            transcript: None,
        },
        pending: Vec::new(),
        opts,
    };
    walk.log(walk.record.started_event())?;

    let mut ctx = Ctx {
        opts,
        console,
        purpose: format!("ceremony {id}"),
        created_request: None,
    };
    let mut tampering = false;
    let mut outcome = Outcome::Completed;
    let witness = script.witness.clone();
    let admin = script.administrator.clone();
    for step in &script.steps {
        let who = step
            .who
            .as_deref()
            .map_or(String::new(), |w| format!(" [{w}]"));
        ctx.console.say(&format!(
            "\n== Step {}{who}: {}",
            step.number, step.activity
        ));
        let (action, result) = match &step.kind {
            StepKind::People => (None, None),
            StepKind::Tool { action, params } => {
                ctx.console
                    .say(&format!("   the tool performs: {}", action.name()));
                let r = actions::perform(*action, params, &mut walk.held, &mut ctx);
                (Some(action.name().to_owned()), Some(r))
            }
        };
        if matches!(
            step.kind,
            StepKind::Tool {
                action: super::Action::Init,
                ..
            }
        ) && matches!(result, Some(Ok(_)))
        {
            walk.flush()?;
        }
        let (mut result_kind, detail, error) = match result {
            None => (StepResult::Done, None, None),
            Some(Ok(detail)) => {
                ctx.console.say(&format!("   OK: {detail}"));
                (StepResult::Ok, Some(detail), None)
            }
            Some(Err(e)) => {
                tampering |= e.tampering;
                ctx.console.say(&format!("   FAILED: {}", e.message));
                (StepResult::Failed, None, Some(e.message))
            }
        };
        let rec = walk.record.clone();
        let prompt = if result_kind == StepResult::Failed {
            format!(
                "Witness ({witness}) initials, acknowledging that step {} failed",
                step.number
            )
        } else {
            format!(
                "Witness ({witness}) initials for step {} (or x if it was not done)",
                step.number
            )
        };
        let Some(ini) = ask_valid(ctx.console, &prompt, |line| {
            if line.trim().eq_ignore_ascii_case("x") && result_kind != StepResult::Failed {
                return Ok(None);
            }
            let i = initials(line).ok_or("initials are 2 to 4 letters")?;
            rec.participant(&witness, &i)
                .map(|_| Some(i.clone()))
                .ok_or_else(|| format!("{i} are not the initials of a witness ({witness})"))
        }) else {
            outcome = Outcome::Aborted;
            ctx.console
                .say("   the input ended: the ceremony is aborted");
            break;
        };
        let ini = match ini {
            Some(i) => i,
            None => {
                result_kind = StepResult::NotDone;
                String::new()
            }
        };
        let s = StepRecord {
            step: step.number,
            activity: step.activity.clone(),
            action,
            detail,
            initials: ini,
            time: audit::now_rfc3339(),
            result: result_kind,
        };
        walk.log(walk.record.step_event(&s))?;
        walk.record.steps.push(s);
        crate::vault::crash::point("ceremony-step-logged");
        if matches!(result_kind, StepResult::Ok | StepResult::Done) {
            continue;
        }
        // An exception: the administrator's reason, confirmed by the witness.
        ctx.console.say(&format!(
            "   EXCEPTION at step {}: the administrator ({admin}) states what happened",
            step.number
        ));
        let Some(reason) = ask_valid(ctx.console, &format!("Reason ({admin})"), |l| {
            free_text("the reason", l)
        }) else {
            outcome = Outcome::Aborted;
            break;
        };
        let rec = walk.record.clone();
        let Some(wi) = ask_valid(
            ctx.console,
            &format!("Witness ({witness}) initials confirming the exception"),
            |line| {
                let i = initials(line).ok_or("initials are 2 to 4 letters")?;
                rec.participant(&witness, &i)
                    .map(|_| i.clone())
                    .ok_or_else(|| format!("{i} are not the initials of a witness ({witness})"))
            },
        ) else {
            outcome = Outcome::Aborted;
            break;
        };
        let x = ExceptionRecord {
            step: step.number,
            reason,
            error,
            witness_initials: wi,
            time: audit::now_rfc3339(),
        };
        walk.log(walk.record.exception_event(&x))?;
        walk.record.exceptions.push(x);
        if step.on_failure == OnFailure::Abort {
            ctx.console.say(&format!(
                "   the script says a failure of step {} aborts the ceremony",
                step.number
            ));
            outcome = Outcome::Aborted;
            break;
        }
    }
    finish(walk, outcome, tampering, ctx.console)
}

fn finish(
    mut walk: Walk<'_>,
    outcome: Outcome,
    tampering: bool,
    console: &mut dyn Console,
) -> Result<RunOutcome, CeremonyError> {
    walk.record.outcome = Some(outcome);
    walk.record.finished_at = Some(audit::now_rfc3339());
    let vault_id = walk.held.vault_mut().map_or_else(
        || "(none: no vault was made)".to_owned(),
        |v| v.info().vault_id.to_string(),
    );
    let text = transcript::transcript(&walk.record, &vault_id);
    let (body, signed) = match &walk.held {
        Held::Unsealed(u) => {
            let key = u.vault_key()?;
            let s = crate::pgp::clearsign(&key, &text).map_err(VaultError::Pgp)?;
            (s, true)
        }
        _ => (
            format!("{text}\nUNSIGNED: no quorum was held at the end of this ceremony; its entries in the vault's audit log are the record.\n"),
            false,
        ),
    };
    let mut file = None;
    if let Some(dir) = &walk.opts.record_dir {
        if !dir.is_dir() {
            console.say(&format!(
                "WARNING: the record medium {} is not a directory (is it mounted?); the transcript follows instead",
                dir.display()
            ));
        } else {
            let name = format!(
                "ceremony-{}.{}",
                walk.record.ceremony_id,
                if signed { "asc" } else { "txt" }
            );
            let path = dir.join(&name);
            match record::write_to_medium(&path, body.as_bytes()) {
                Ok(()) => {
                    walk.record.transcript = Some((
                        name,
                        crate::crypto::hex(&crate::crypto::sha256(body.as_bytes())),
                    ));
                    file = Some(path);
                }
                Err(e) => console.say(&format!("WARNING: the transcript was not written: {e}")),
            }
        }
    }
    crate::vault::crash::point("ceremony-transcript-written");
    let logged = walk.held.vault_mut().is_some();
    walk.log(walk.record.finished_event())?;
    console.say(&format!("\n{body}"));
    let held = std::mem::replace(&mut walk.held, Held::None);
    if let Held::Unsealed(u) = held {
        let (_sealed, cp) = u.finish();
        match cp {
            Ok(Some(cp)) => console.say(&format!(
                "checkpoint signed: {} entries; the vault is sealed again",
                cp.entries
            )),
            Ok(None) => console.say("no checkpoint was signed (broken log accepted)"),
            Err(e) => console.say(&format!("WARNING: no checkpoint was signed: {e}")),
        }
    }
    Ok(RunOutcome {
        record: walk.record,
        transcript_file: file,
        signed,
        tampering,
        logged,
    })
}

/// `ceremony show`: the transcript of ceremony `id`, rebuilt from the
/// log, and the log's problems (`audit verify`'s; empty when intact): a
/// transcript rebuilt from a broken log is evidence of nothing.
pub fn show(
    vault_dir: &Path,
    id: &str,
) -> Result<(CeremonyRecord, String, Vec<String>), VaultError> {
    let vault = Vault::open(vault_dir)?;
    let c = record::ceremony(&vault, id)?;
    let text = transcript::transcript(&c, &vault.info().vault_id.to_string());
    let problems = vault
        .verify_audit()?
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok((c, text, problems))
}

/// `ceremony list`: every ceremony in the log.
pub fn list(vault_dir: &Path) -> Result<Vec<CeremonyRecord>, VaultError> {
    let vault = Vault::open(vault_dir)?;
    record::ceremonies(&vault)
}
