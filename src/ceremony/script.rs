//! Ceremony scripts as data: a TOML file read strictly.
//!
//! A script is what the people in the room read and initial, so it must
//! mean exactly one thing: every table denies unknown keys, every tool
//! step's parameters are checked against its action before the ceremony
//! starts, and every `{name}` in a text or a parameter must be one of the
//! script's `[vars]`. A refusal names the file, the line and the key.
//! Variables are the per-ceremony inputs (custodian names, media paths);
//! their values are logged with the script's SHA-256 at `ceremony.started`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Why a script (or an answers file) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid script: where and what.
    #[error("{}:{line}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong, naming the key.
        what: String,
    },
}

/// Who fails a step: the script says whether the ceremony goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// An exception is recorded and the ceremony goes on.
    Exception,
    /// An exception is recorded and the ceremony stops (logged as aborted).
    Abort,
}

/// What the tool does in a tool step. `rekey` and `seeds-destroy` are
/// reserved names: a script naming them is refused until they exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Create the vault (`init`).
    Init,
    /// One custodian checks their card (`card check`).
    CardCheck,
    /// One custodian's SLIP-0039 words for the paper backup (`card words`).
    CardWords,
    /// A quorum unseals the vault for the rest of the ceremony.
    Unseal,
    /// Ingest a factory batch (needs the quorum).
    Ingest,
    /// Record an order (one officer).
    OrderAdd,
    /// Record the serials shipped in an order (one officer).
    OrderAssign,
    /// Create a seed request (one officer).
    RequestCreate,
    /// Approve a seed request (another officer).
    RequestApprove,
    /// Export an approved request onto media (needs the quorum).
    Export,
    /// Verify the hash chain (`audit verify`).
    AuditVerify,
    /// Rebuild the state from the log (`audit replay`).
    AuditReplay,
    /// Write the log as JSON Lines to a new file (`audit export`).
    AuditExport,
    /// Write the latest signed checkpoint to a new file (`audit checkpoint`).
    Checkpoint,
    /// Write a verified backup (needs the quorum).
    Backup,
    /// Reserved: rekey (not yet walkable).
    Rekey,
    /// Reserved: seed destruction (not yet walkable).
    SeedsDestroy,
}

impl Action {
    /// The name as scripts write it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Init => "init",
            Action::CardCheck => "card-check",
            Action::CardWords => "card-words",
            Action::Unseal => "unseal",
            Action::Ingest => "ingest",
            Action::OrderAdd => "order-add",
            Action::OrderAssign => "order-assign",
            Action::RequestCreate => "request-create",
            Action::RequestApprove => "request-approve",
            Action::Export => "export",
            Action::AuditVerify => "audit-verify",
            Action::AuditReplay => "audit-replay",
            Action::AuditExport => "audit-export",
            Action::Checkpoint => "checkpoint",
            Action::Backup => "backup",
            Action::Rekey => "rekey",
            Action::SeedsDestroy => "seeds-destroy",
        }
    }

    /// Parameters this action requires, then those it accepts besides.
    fn params(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Action::Init => (&["threshold", "custodians", "cards_out"], &[]),
            Action::CardCheck | Action::CardWords => (&["card"], &[]),
            Action::Unseal => (&["cards"], &[]),
            Action::Ingest => (&["file"], &["format", "label"]),
            Action::OrderAdd => (&["card", "order", "customer", "emails"], &[]),
            Action::OrderAssign => (&["card", "order", "serials_file"], &[]),
            Action::RequestCreate => (
                &["card", "order", "requester", "recipient_key", "format"],
                &["serials_file"],
            ),
            Action::RequestApprove => (&["card", "request"], &[]),
            Action::Export => (&["request", "media"], &[]),
            Action::AuditVerify | Action::AuditReplay => (&[], &[]),
            Action::AuditExport | Action::Checkpoint | Action::Backup => (&["out"], &[]),
            Action::Rekey | Action::SeedsDestroy => (&[], &[]),
        }
    }

    /// Whether the action needs the quorum held by an earlier `unseal` step.
    pub fn needs_quorum(self) -> bool {
        matches!(self, Action::Ingest | Action::Export | Action::Backup)
    }
}

/// A tool step's parameters (which apply depends on the action).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `init`: M.
    pub threshold: Option<u8>,
    /// `init`: the custodians, in order.
    pub custodians: Option<Vec<String>>,
    /// `init`: where the cards and vault-cert.asc go.
    pub cards_out: Option<String>,
    /// One officer's or custodian's card.
    pub card: Option<String>,
    /// `unseal`: the quorum's cards.
    pub cards: Option<Vec<String>>,
    /// `ingest`: the batch file.
    pub file: Option<String>,
    /// `ingest`, `request-create`: a format name.
    pub format: Option<String>,
    /// `ingest`: a label.
    pub label: Option<String>,
    /// Order id.
    pub order: Option<String>,
    /// `order-add`: customer name.
    pub customer: Option<String>,
    /// `order-add`: authorized e-mail addresses.
    pub emails: Option<Vec<String>>,
    /// `order-assign`, `request-create`: one serial per line.
    pub serials_file: Option<String>,
    /// `request-create`: the requester's e-mail.
    pub requester: Option<String>,
    /// `request-create`: the customer's certificate file.
    pub recipient_key: Option<String>,
    /// Request id.
    pub request: Option<String>,
    /// `export`: the medium.
    pub media: Option<String>,
    /// `audit-export`, `checkpoint`: a new file; `backup`: a new directory.
    pub out: Option<String>,
}

impl Params {
    /// The names of the parameters that are set.
    fn set(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |on: bool, n| {
            if on {
                v.push(n)
            }
        };
        add(self.threshold.is_some(), "threshold");
        add(self.custodians.is_some(), "custodians");
        add(self.cards_out.is_some(), "cards_out");
        add(self.card.is_some(), "card");
        add(self.cards.is_some(), "cards");
        add(self.file.is_some(), "file");
        add(self.format.is_some(), "format");
        add(self.label.is_some(), "label");
        add(self.order.is_some(), "order");
        add(self.customer.is_some(), "customer");
        add(self.emails.is_some(), "emails");
        add(self.serials_file.is_some(), "serials_file");
        add(self.requester.is_some(), "requester");
        add(self.recipient_key.is_some(), "recipient_key");
        add(self.request.is_some(), "request");
        add(self.media.is_some(), "media");
        add(self.out.is_some(), "out");
        v
    }

    /// Every string parameter, for variable substitution.
    fn strings_mut(&mut self) -> Vec<&mut String> {
        let mut v: Vec<&mut String> = Vec::new();
        for s in [
            &mut self.cards_out,
            &mut self.card,
            &mut self.file,
            &mut self.format,
            &mut self.label,
            &mut self.order,
            &mut self.customer,
            &mut self.serials_file,
            &mut self.requester,
            &mut self.recipient_key,
            &mut self.request,
            &mut self.media,
            &mut self.out,
        ]
        .into_iter()
        .flatten()
        {
            v.push(s);
        }
        for list in [&mut self.custodians, &mut self.cards, &mut self.emails]
            .into_iter()
            .flatten()
        {
            v.extend(list.iter_mut());
        }
        v
    }
}

/// A role in the room (IANA: CA, IW, SSC, ...).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Short id used in steps (`CA`).
    pub id: String,
    /// What people call it (`Ceremony administrator`).
    pub title: String,
    /// How many people in this role must be present (named at the start).
    #[serde(default = "one")]
    pub count: u8,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    People,
    Tool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    kind: Kind,
    activity: String,
    #[serde(default)]
    who: Option<String>,
    #[serde(default)]
    action: Option<Action>,
    #[serde(default)]
    params: Option<Params>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    title: String,
    #[serde(default)]
    description: Option<String>,
    administrator: String,
    witness: String,
    #[serde(rename = "role")]
    roles: Vec<Role>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(rename = "step")]
    steps: Vec<Spanned<RawStep>>,
}

/// What a step asks of the room or the tool.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// An instruction for people; the witness initials it.
    People,
    /// The tool performs `action` with `params` (variables substituted).
    Tool {
        /// The action.
        action: Action,
        /// Its parameters.
        params: Box<Params>,
    },
}

/// One numbered step.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based, its position in the script.
    pub number: usize,
    /// What is done, as printed (variables substituted).
    pub activity: String,
    /// The role that does it, if the script names one.
    pub who: Option<String>,
    /// People or tool.
    pub kind: StepKind,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// The script line the step starts on.
    pub line: usize,
}

/// A checked script with its variables bound.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file name (no directory), as logged.
    pub name: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Title.
    pub title: String,
    /// Free text under the title.
    pub description: Option<String>,
    /// The administrator's role id.
    pub administrator: String,
    /// The witness's role id.
    pub witness: String,
    /// The roles, in order.
    pub roles: Vec<Role>,
    /// The variables and their values (defaults overridden by `--set`).
    pub vars: BTreeMap<String, String>,
    /// The steps.
    pub steps: Vec<Step>,
}

fn line_of(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |t| t.matches('\n').count() + 1)
}

/// Replaces every `{name}` by its value; an unknown name or a stray brace
/// is an error naming it.
fn substitute(s: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with('}') {
            return Err("a '}' without its '{'".into());
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("a '{' without its '}'".into());
        };
        let name = &after[..close];
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => return Err(format!("{{{name}}} is not one of the script's [vars]")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Script {
    /// Reads and checks the script at `path`, with `sets` overriding its
    /// variables (`NAME=VALUE`; only declared variables can be set).
    pub fn load(path: &Path, sets: &[(String, String)]) -> Result<Script, ScriptError> {
        let bytes = std::fs::read(path).map_err(|source| ScriptError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &bytes, sets)
    }

    /// [`Script::load`] on bytes already read (`path` names them).
    pub fn parse(
        path: &Path,
        bytes: &[u8],
        sets: &[(String, String)],
    ) -> Result<Script, ScriptError> {
        let bad = |line: usize, what: String| ScriptError::Invalid {
            path: path.to_owned(),
            line,
            what,
        };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| bad(0, format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        let raw: RawScript = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            bad(line, e.message().trim().to_owned())
        })?;
        let mut vars = raw.vars;
        for (k, v) in sets {
            match vars.get_mut(k) {
                Some(slot) => slot.clone_from(v),
                None => {
                    return Err(bad(
                        0,
                        format!("--set {k}: the script has no variable {k} in [vars]"),
                    ))
                }
            }
        }
        for (k, v) in &vars {
            if v.contains(['{', '}']) || v.chars().any(char::is_control) {
                return Err(bad(
                    0,
                    format!("variable {k}: braces and control characters are not allowed"),
                ));
            }
        }
        let mut ids: Vec<&str> = Vec::new();
        for r in &raw.roles {
            if r.id.is_empty() || ids.contains(&r.id.as_str()) {
                return Err(bad(0, format!("role id {:?} is empty or repeated", r.id)));
            }
            if r.count == 0 {
                return Err(bad(0, format!("role {}: count must be at least 1", r.id)));
            }
            ids.push(&r.id);
        }
        for (key, id) in [
            ("administrator", &raw.administrator),
            ("witness", &raw.witness),
        ] {
            if !ids.contains(&id.as_str()) {
                return Err(bad(0, format!("{key} = {id:?} is not one of the roles")));
            }
        }
        if raw.administrator == raw.witness {
            return Err(bad(
                0,
                "administrator and witness must be different roles".into(),
            ));
        }
        if raw.steps.is_empty() {
            return Err(bad(0, "the script has no [[step]]".into()));
        }
        let mut steps = Vec::new();
        for (i, spanned) in raw.steps.into_iter().enumerate() {
            let line = line_of(text, spanned.span().start);
            let s = spanned.into_inner();
            let number = i + 1;
            let at = |what: String| bad(line, format!("step {number}: {what}"));
            let activity =
                substitute(&s.activity, &vars).map_err(|w| at(format!("activity: {w}")))?;
            if activity.trim().is_empty() {
                return Err(at("activity is empty".into()));
            }
            if let Some(w) = &s.who {
                if !ids.contains(&w.as_str()) {
                    return Err(at(format!("who = {w:?} is not one of the roles")));
                }
            }
            let kind = match (s.kind, s.action, s.params) {
                (Kind::People, None, None) => StepKind::People,
                (Kind::People, _, _) => {
                    return Err(at(
                        "a people step has no action or params (use kind = \"tool\")".into(),
                    ))
                }
                (Kind::Tool, None, _) => return Err(at("a tool step needs an action".into())),
                (Kind::Tool, Some(action), params) => {
                    if matches!(action, Action::Rekey | Action::SeedsDestroy) {
                        return Err(at(format!(
                            "action {} is reserved and cannot be walked yet",
                            action.name()
                        )));
                    }
                    let mut params = params.unwrap_or_default();
                    let (required, optional) = action.params();
                    let set = params.set();
                    for r in required {
                        if !set.contains(r) {
                            return Err(at(format!("action {} needs params.{r}", action.name())));
                        }
                    }
                    for k in &set {
                        if !required.contains(k) && !optional.contains(k) {
                            return Err(at(format!(
                                "params.{k} does not apply to action {}",
                                action.name()
                            )));
                        }
                    }
                    for v in params.strings_mut() {
                        *v = substitute(v, &vars).map_err(|w| at(format!("params: {w}")))?;
                    }
                    StepKind::Tool {
                        action,
                        params: Box::new(params),
                    }
                }
            };
            steps.push(Step {
                number,
                activity,
                who: s.who,
                kind,
                on_failure: s.on_failure.unwrap_or(OnFailure::Exception),
                line,
            });
        }
        Ok(Script {
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            sha256: crate::crypto::hex(&crate::crypto::sha256(bytes)),
            title: raw.title,
            description: raw.description,
            administrator: raw.administrator,
            witness: raw.witness,
            roles: raw.roles,
            vars,
            steps,
        })
    }

    /// Whether the script creates the vault (its log starts at that step).
    pub fn creates_vault(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.kind,
                StepKind::Tool {
                    action: Action::Init,
                    ..
                }
            )
        })
    }
}

/// Scripted answers for rehearsals and CI (`--answers FILE`): lines
/// answered before standard input, and passphrase files by custodian.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// Answers to the line prompts, in order (participants, initials,
    /// reasons), used before standard input.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Custodian name -> file holding their passphrase (relative paths
    /// are relative to the answers file). Never a passphrase itself.
    #[serde(default)]
    pub passphrase_files: BTreeMap<String, PathBuf>,
}

impl Answers {
    /// Reads an answers file strictly.
    pub fn load(path: &Path) -> Result<Answers, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut a: Answers = toml::from_str(&text).map_err(|e| ScriptError::Invalid {
            path: path.to_owned(),
            line: e.span().map_or(0, |s| line_of(&text, s.start)),
            what: e.message().trim().to_owned(),
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        for f in a.passphrase_files.values_mut() {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
title = "T"
administrator = "CA"
witness = "IW"
[[role]]
id = "CA"
title = "Ceremony administrator"
[[role]]
id = "IW"
title = "Internal witness"
[vars]
dir = "/media/x"
[[step]]
kind = "people"
activity = "CA opens the safe"
[[step]]
kind = "tool"
action = "audit-export"
activity = "log to {dir}"
params = { out = "{dir}/log.jsonl" }
"#;

    fn parse(t: &str) -> Result<Script, ScriptError> {
        Script::parse(Path::new("s.toml"), t.as_bytes(), &[])
    }

    #[test]
    fn a_good_script_binds_its_variables() {
        let s = Script::parse(
            Path::new("s.toml"),
            OK.as_bytes(),
            &[("dir".into(), "/m".into())],
        )
        .unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[1].activity, "log to /m");
        match &s.steps[1].kind {
            StepKind::Tool { params, .. } => {
                assert_eq!(params.out.as_deref(), Some("/m/log.jsonl"))
            }
            StepKind::People => panic!("tool step"),
        }
        assert_eq!(s.steps[1].line, 16);
    }

    #[test]
    fn bad_scripts_are_refused_naming_line_and_key() {
        let e = parse(&OK.replace("activity = \"CA opens", "colour = 1\nactivity = \"CA opens"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:15:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = parse(&OK.replace("{dir}/log", "{nope}/log"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("step 2") && e.contains("{nope}"), "{e}");
        let e = parse(&OK.replace("out = ", "media = "))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs params.out"), "{e}");
        let e = parse(&OK.replace("audit-export", "rekey"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("reserved"), "{e}");
        let e = parse(&OK.replace("audit-export", "launch"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("launch"), "{e}");
        let e = Script::parse(
            Path::new("s.toml"),
            OK.as_bytes(),
            &[("other".into(), "x".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no variable other"), "{e}");
    }
}
