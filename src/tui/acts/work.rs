//! The officers' acts on the vault thread: the same library calls, in the
//! same order, with the same refusals and log entries as the command line
//! (`order add/assign`, `request create/approve/reject`, `serial void`,
//! `card check`). The checks the CLI makes before it asks for a
//! passphrase come first here too; the card is read (an unreadable one is
//! logged as a refused attempt, as the CLI logs it) and proven with
//! [`Vault::authenticate`], which checks the log first.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::cards::SealedCard;
use crate::formats::Format;
use crate::token::Serial;
use crate::vault::upn::UpnLine;
use crate::vault::{
    check_free_text, read_serials_file, read_upn_file, AssignPlan, BatchSummary, NewRequest,
    Officer, OrderSummary, RequestPreview, SerialRecord, Vault, VaultError,
};

/// What a request create will ask for, as typed in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDraft {
    /// The order.
    pub order: String,
    /// The requester's e-mail.
    pub requester: String,
    /// The recipient's certificate file.
    pub key_file: PathBuf,
    /// The format name.
    pub format: String,
    /// The serials file, if any (default: the order's).
    pub serials_file: Option<PathBuf>,
    /// The UPN file (azure-csv: each serial's Entra user), if any.
    pub upn_file: Option<PathBuf>,
}

/// One officer's act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// `order add`.
    OrderAdd {
        /// Order id.
        id: String,
        /// Customer.
        customer: String,
        /// Authorized addresses.
        emails: Vec<String>,
    },
    /// `order assign`.
    Assign {
        /// Order id.
        order: String,
        /// The serials file.
        file: PathBuf,
    },
    /// `request create`.
    Create(RequestDraft),
    /// `request approve`.
    Approve {
        /// Request id.
        id: String,
    },
    /// `request reject`.
    Reject {
        /// Request id.
        id: String,
        /// Why.
        reason: String,
    },
    /// `serial void`.
    Void {
        /// The serial.
        serial: String,
        /// Why.
        reason: String,
    },
    /// `card check`.
    CardCheck,
}

impl Act {
    /// The act in words, for the dialog's title line.
    pub fn describe(&self) -> String {
        match self {
            Act::OrderAdd { id, .. } => format!("add order {id}"),
            Act::Assign { order, .. } => format!("assign shipped serials to order {order}"),
            Act::Create(d) => format!("create a seed request for order {}", d.order),
            Act::Approve { id } => format!("approve request {id}"),
            Act::Reject { id, .. } => format!("reject request {id}"),
            Act::Void { serial, .. } => format!("void serial {serial}"),
            Act::CardCheck => "check a card and its passphrase".into(),
        }
    }

    /// The purpose the log records (the CLI command's name).
    pub fn purpose(&self) -> &'static str {
        match self {
            Act::OrderAdd { .. } => "order add",
            Act::Assign { .. } => "order assign",
            Act::Create(_) => "request create",
            Act::Approve { .. } => "request approve",
            Act::Reject { .. } => "request reject",
            Act::Void { .. } => "serial void",
            Act::CardCheck => "card check",
        }
    }
}

/// Work for the vault thread from the officers' screens.
#[derive(Debug)]
pub enum ActJob {
    /// Read the batches and orders lists.
    Lists,
    /// Look up a serial.
    Serial(String),
    /// List the files directly in these directories (the media).
    Files(Vec<PathBuf>),
    /// A dry run of `order assign`.
    CheckAssign {
        /// Order id.
        order: String,
        /// The serials file.
        file: PathBuf,
    },
    /// A dry run of `request create`.
    Preview(RequestDraft),
    /// What the officer deciding this request must know first.
    Warnings(String),
    /// Prove the officer and do the act.
    Run {
        /// The card file.
        card: PathBuf,
        /// Its passphrase.
        pass: SecretString,
        /// The act.
        act: Act,
    },
}

/// One answer per [`ActJob`].
#[derive(Debug)]
pub enum ActReply {
    /// For [`ActJob::Lists`].
    Lists(Lists),
    /// For [`ActJob::Serial`]: the serial asked for and its record.
    Serial(String, Result<SerialRecord, String>),
    /// For [`ActJob::Files`].
    Files(Vec<PathBuf>),
    /// For [`ActJob::CheckAssign`].
    Assign(Result<AssignPlan, String>),
    /// For [`ActJob::Preview`].
    Preview(Result<RequestPreview, String>),
    /// For [`ActJob::Warnings`]: the request and its warnings.
    Warnings(String, Vec<String>),
    /// For [`ActJob::Run`]: what the CLI would print, or its refusal;
    /// the lists read again, and the voided serial's record read again.
    Done(
        Result<String, Refusal>,
        Lists,
        Option<(String, Result<SerialRecord, String>)>,
    ),
}

/// The batches and orders lists.
#[derive(Debug, Clone)]
pub struct Lists {
    /// Batches, newest first.
    pub batches: Result<Vec<BatchSummary>, String>,
    /// Orders, by id.
    pub orders: Result<Vec<OrderSummary>, String>,
}

fn lists(vault: &Vault) -> Lists {
    Lists {
        batches: vault.batches().map_err(|e| e.to_string()),
        orders: vault.orders().map_err(|e| e.to_string()),
    }
}

fn lookup(vault: &Vault, s: &str) -> Result<SerialRecord, String> {
    let serial = parse_serial(s)?;
    match vault.serial_record(&serial) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(VaultError::SerialNotFound {
            serial: serial.to_string(),
        }
        .to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl ActReply {
    /// Whether the vault may have changed (the app then re-reads it).
    pub fn changed(&self) -> bool {
        matches!(self, ActReply::Done(..))
    }
}

/// Why an act was refused: the library's message, verbatim (the CLI's
/// words), and what to do next in the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The message.
    pub message: String,
    /// What to do next, when there is something useful to say.
    pub advice: Option<String>,
}

impl From<VaultError> for Refusal {
    fn from(e: VaultError) -> Self {
        Refusal {
            advice: advice(&e).map(str::to_owned),
            message: e.to_string(),
        }
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Refusal {
            message,
            advice: None,
        }
    }
}

/// The console's advice after a refusal of an officer's act (the CLI's
/// `advice_for` names flags and commands; this names keys): the words
/// particular to these acts, else the console's general advice
/// ([`crate::tui::advice::for_error`]).
pub fn advice(e: &VaultError) -> Option<&'static str> {
    Some(match e {
        VaultError::Card(crate::cards::CardError::WrongPassphrase { .. }) => {
            "the attempt was logged; the officer may try again with the right passphrase"
        }
        VaultError::ForeignCard { .. } => {
            "this card was made for another vault: choose this vault's card"
        }
        VaultError::TwoPersonRule { .. } => "a different officer decides it: choose their card",
        VaultError::OrderExists { .. } => "the Orders tab (3) lists it",
        VaultError::OrderNotFound { .. } => "add the order first (3, then n)",
        VaultError::SerialNotFound { .. } => {
            "check the serial against the factory file; seeds enter the vault by ingest (i)"
        }
        VaultError::SerialVoided { .. } => {
            "the Batches tab (2, then / and the serial) shows who voided it and why"
        }
        VaultError::RequestRefused {
            already_exported, ..
        } if !already_exported.is_empty() => {
            "a re-export is created on the command line: request create --reexport --reason TEXT"
        }
        VaultError::RequestChanged { .. } => {
            "nothing was recorded; r re-reads the requests, then try again if still needed"
        }
        VaultError::BrokenLog { .. } => {
            "stop and involve the auditors: v on the Audit tab names the problem"
        }
        e if e.is_tampering() => {
            "verify the log (v on the Audit tab) and involve your auditors before using this vault"
        }
        _ => return crate::tui::advice::for_error(e),
    })
}

/// The words of the CLI's refusal of an unknown format name.
pub fn parse_format(name: &str) -> Result<Format, String> {
    Format::from_name(name.trim()).ok_or_else(|| {
        let all: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format {:?}; one of: {}",
            name.trim(),
            all.join(", ")
        )
    })
}

/// A serial as typed; the CLI's words when it is not one.
pub fn parse_serial(s: &str) -> Result<Serial, String> {
    Serial::parse(s.trim()).map_err(|e| format!("invalid serial: {e}"))
}

/// Runs `job` on `vault`.
pub fn run(job: ActJob, vault: &mut Vault) -> ActReply {
    match job {
        ActJob::Lists => ActReply::Lists(lists(vault)),
        ActJob::Serial(s) => {
            let r = lookup(vault, &s);
            ActReply::Serial(s, r)
        }
        ActJob::Files(dirs) => ActReply::Files(files_in(&dirs)),
        ActJob::CheckAssign { order, file } => ActReply::Assign(
            read_serials_file(&file)
                .and_then(|serials| vault.check_assign(&order, &serials))
                .map_err(|e| e.to_string()),
        ),
        ActJob::Preview(d) => ActReply::Preview(preview(vault, &d)),
        ActJob::Warnings(id) => {
            let w = vault.request_warnings(&id);
            ActReply::Warnings(id, w)
        }
        ActJob::Run { card, pass, act } => {
            let r = act_on(vault, &card, &pass, &act);
            let serial = match &act {
                Act::Void { serial, .. } => Some((serial.clone(), lookup(vault, serial))),
                _ => None,
            };
            ActReply::Done(r, lists(vault), serial)
        }
    }
}

/// The answer to `job` when the vault could not be reopened.
pub fn gone(job: ActJob, why: String) -> ActReply {
    let lists = || Lists {
        batches: Err(why.clone()),
        orders: Err(why.clone()),
    };
    match job {
        ActJob::Lists => ActReply::Lists(lists()),
        ActJob::Serial(s) => ActReply::Serial(s, Err(why.clone())),
        ActJob::Files(_) => ActReply::Files(Vec::new()),
        ActJob::CheckAssign { .. } => ActReply::Assign(Err(why.clone())),
        ActJob::Preview(_) => ActReply::Preview(Err(why.clone())),
        ActJob::Warnings(id) => ActReply::Warnings(id, vec![why.clone()]),
        ActJob::Run { .. } => ActReply::Done(Err(Refusal::from(why.clone())), lists(), None),
    }
}

/// The request as `request create` would read it, before any card.
/// A draft read: format, certificate bytes, serials and UPN mapping (if
/// their files were given).
type ReadDraft = (Format, Vec<u8>, Option<Vec<Serial>>, Option<Vec<UpnLine>>);

fn read_draft(d: &RequestDraft) -> Result<ReadDraft, String> {
    let format = parse_format(&d.format)?;
    let key = std::fs::read(&d.key_file).map_err(|e| format!("{}: {e}", d.key_file.display()))?;
    let serials = match &d.serials_file {
        Some(f) => Some(read_serials_file(f).map_err(|e| e.to_string())?),
        None => None,
    };
    let upns = match &d.upn_file {
        Some(f) => Some(read_upn_file(f).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok((format, key, serials, upns))
}

fn preview(vault: &Vault, d: &RequestDraft) -> Result<RequestPreview, String> {
    let (format, key, serials, upns) = read_draft(d)?;
    vault
        .preview_request(&NewRequest {
            order_id: &d.order,
            requester: &d.requester,
            recipient_key: &key,
            format,
            serials,
            reexport_reason: None,
            upns,
        })
        .map_err(|e| e.to_string())
}

/// Reads the card (logging an unreadable one, as the CLI does) and proves
/// the officer.
fn officer(
    vault: &mut Vault,
    card: &Path,
    pass: &SecretString,
    purpose: &str,
) -> Result<Officer, Refusal> {
    let c = read_card(vault, card, purpose)?;
    Ok(vault.authenticate(&c, pass, purpose)?)
}

fn read_card(vault: &mut Vault, card: &Path, purpose: &str) -> Result<SealedCard, Refusal> {
    SealedCard::read(card).map_err(|e| {
        let given = vec![card.display().to_string()];
        vault.record_refusal(purpose, given.clone(), given, &e.to_string());
        Refusal::from(VaultError::from(e))
    })
}

fn act_on(
    vault: &mut Vault,
    card: &Path,
    pass: &SecretString,
    act: &Act,
) -> Result<String, Refusal> {
    let purpose = act.purpose();
    let s = |e: VaultError| Refusal::from(e);
    match act {
        Act::OrderAdd {
            id,
            customer,
            emails,
        } => {
            check_free_text("the customer name", customer).map_err(s)?;
            let who = officer(vault, card, pass, purpose)?;
            vault.add_order(id, customer, emails, &who).map_err(s)?;
            Ok(format!(
                "order {id} recorded for {customer} ({} authorized address(es))",
                emails.len()
            ))
        }
        Act::Assign { order, file } => {
            let serials = read_serials_file(file).map_err(s)?;
            let who = officer(vault, card, pass, purpose)?;
            let n = vault.assign_serials(order, &serials, &who).map_err(s)?;
            let distinct: std::collections::HashSet<&str> =
                serials.iter().map(|s| s.as_str()).collect();
            Ok(format!(
                "{n} serial(s) assigned to order {order} ({} already were)",
                distinct.len() - n
            ))
        }
        Act::Create(d) => {
            let (format, key, serials, upns) = read_draft(d)?;
            let who = officer(vault, card, pass, purpose)?;
            let created = vault
                .create_request(
                    NewRequest {
                        order_id: &d.order,
                        requester: &d.requester,
                        recipient_key: &key,
                        format,
                        serials,
                        reexport_reason: None,
                        upns,
                    },
                    &who,
                )
                .map_err(s)?;
            Ok(format!(
                "request {} for order {}: {} serial(s) as {format}, created by {}; recipient {}. A second officer approves it (a).",
                created.id, d.order, created.serials, who.name, created.recipient_fingerprint
            ))
        }
        Act::Approve { id } => {
            let who = officer(vault, card, pass, purpose)?;
            let r = vault.decide_request(id, true, None, &who).map_err(s)?;
            let ttl = vault.info().approval_ttl_s;
            Ok(format!(
                "request {id} approved by {} (created by {}); valid for export for {} h {} min",
                who.name,
                r.created_by,
                ttl / 3600,
                (ttl % 3600) / 60
            ))
        }
        Act::Reject { id, reason } => {
            check_free_text("the reason", reason).map_err(s)?;
            let who = officer(vault, card, pass, purpose)?;
            vault
                .decide_request(id, false, Some(reason), &who)
                .map_err(s)?;
            Ok(format!("request {id} rejected by {}", who.name))
        }
        Act::Void { serial, reason } => {
            let serial = parse_serial(serial)?;
            check_free_text("the reason", reason).map_err(s)?;
            let who = officer(vault, card, pass, purpose)?;
            vault.void_serial(&serial, reason, &who).map_err(s)?;
            Ok(format!(
                "serial {serial} voided by {}: it can never be exported",
                who.name
            ))
        }
        Act::CardCheck => {
            let c = read_card(vault, card, purpose)?;
            let k = vault.check_card(&c, pass).map_err(s)?;
            let info = vault.info();
            let mut text = format!(
                "card OK: custodian {}, share {} of vault {} ({} of {} needed); signing key {}",
                k.name,
                k.member_index + 1,
                k.vault_id,
                info.threshold,
                info.share_count,
                k.officer_fingerprint
            );
            if !k.kdf.is_at_least_default() {
                text.push_str("; WARNING: this card uses a test-only fast KDF");
            }
            Ok(text)
        }
    }
}

/// Regular files directly in `dirs`, sorted, hidden ones left out.
fn files_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}
