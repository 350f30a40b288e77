//! The officers' screens (Batches, Orders, Requests) and their acts.
//!
//! Every act of one officer goes the same way: a form (`Tab` between
//! fields, and from a file field to the list of files on the media), a
//! dry run through the library where there is one (`order assign`,
//! `request create`) so the count, the recipient's fingerprints and every
//! refusal are on screen before anyone signs, a confirmation naming what
//! will change, then the officer card dialog ([`super::officer`]), then
//! the result or the library's refusal in a panel where the act was
//! attempted. `Esc` goes back one step each time.
//!
//! The app hands its actions here first ([`update`]); what this module
//! does not take (`None`) goes on to the app's own keys. Nothing here does
//! I/O: the vault thread does (see [`work`]).

pub mod work;

use std::path::PathBuf;

use super::action::{ActKey, Action};
use super::app::{Notice, State, Tab};
use super::keys::Context;
use super::officer::{OfficerDialog, OfficerOutcome};
use super::worker::Job;
use crate::vault::{
    check_free_text, BatchSummary, OrderSummary, Request, RequestState, SerialRecord, VaultError,
};
use work::{Act, ActJob, ActReply, Lists, RequestDraft};

/// What the officers' screens show and which step of an act is open.
#[derive(Debug, Default)]
pub struct Acts {
    /// Batches, newest first (None until read).
    pub batches: Option<Result<Vec<BatchSummary>, String>>,
    /// Orders (None until read).
    pub orders: Option<Result<Vec<OrderSummary>, String>>,
    /// Selected batch.
    pub batch_sel: usize,
    /// Selected order (in the filtered list).
    pub order_sel: usize,
    /// Selected request (in the newest-first list).
    pub request_sel: usize,
    /// The orders filter.
    pub order_filter: String,
    /// The serial looked up, and its record or why there is none.
    pub serial: Option<(String, Result<SerialRecord, String>)>,
    /// Files on the media, for the file fields.
    pub files: Vec<PathBuf>,
    /// The open form, check, confirmation or result.
    pub modal: Option<Modal>,
    /// The officer card dialog, when open.
    pub officer: Option<OfficerDialog>,
}

/// Which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    /// Look up a serial (Batches).
    FindSerial,
    /// Filter the orders.
    FilterOrders,
    /// `order add`.
    OrderAdd,
    /// `order assign`.
    Assign,
    /// `request create`.
    Request,
    /// `request reject` of this request.
    Reject(String),
    /// `serial void` of this serial.
    Void(String),
}

/// One text field.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its label.
    pub label: &'static str,
    /// What is typed.
    pub value: String,
    /// A file path (Tab goes on to the media file list).
    pub file: bool,
}

/// A form.
#[derive(Debug, Clone)]
pub struct Form {
    /// Which.
    pub kind: FormKind,
    /// Its fields.
    pub fields: Vec<Field>,
    /// The field with the cursor.
    pub focus: usize,
    /// The cursor in the media file list, when the list has the keyboard.
    pub list: Option<usize>,
    /// Why the form was not accepted.
    pub error: Option<String>,
}

impl Form {
    fn new(kind: FormKind, fields: &[(&'static str, &str, bool)]) -> Form {
        Form {
            kind,
            fields: fields
                .iter()
                .map(|(label, value, file)| Field {
                    label,
                    value: (*value).to_owned(),
                    file: *file,
                })
                .collect(),
            focus: 0,
            list: None,
            error: None,
        }
    }

    /// The form's title.
    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::FindSerial => "Look up a serial".into(),
            FormKind::FilterOrders => "Filter orders".into(),
            FormKind::OrderAdd => "Add an order".into(),
            FormKind::Assign => "Assign shipped serials".into(),
            FormKind::Request => "Create a seed request".into(),
            FormKind::Reject(id) => format!("Reject request {id}"),
            FormKind::Void(s) => format!("Void serial {s}"),
        }
    }

    fn value(&self, i: usize) -> String {
        self.fields
            .get(i)
            .map(|f| f.value.trim().to_owned())
            .unwrap_or_default()
    }

    fn has_files(&self) -> bool {
        self.fields.iter().any(|f| f.file)
    }
}

/// The recipient as the approver compares it with the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Primary key fingerprint.
    pub fingerprint: String,
    /// Encryption subkeys.
    pub subkeys: Vec<String>,
    /// User ids.
    pub user_ids: Vec<String>,
}

/// A confirmation naming what will change.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// Title.
    pub title: String,
    /// What will change.
    pub lines: Vec<String>,
    /// The recipient's fingerprints, to read out.
    pub recipient: Option<Recipient>,
    /// The library's refusal, every problem: blocks the act.
    pub refusal: Option<String>,
    /// The act, once confirmed.
    pub act: Act,
    /// The form `Esc` goes back to.
    pub back: Option<Form>,
    /// Scroll offset.
    pub scroll: u16,
}

/// The open step of an act, above the screen.
#[derive(Debug, Clone)]
pub enum Modal {
    /// A form.
    Form(Form),
    /// The vault thread runs a dry run of the form (or reads what an
    /// approver must know).
    Checking {
        /// What is being checked.
        what: String,
        /// The form `Esc` goes back to.
        back: Option<Form>,
    },
    /// A confirmation.
    Confirm(Box<Confirm>),
    /// The act's result, or the library's refusal.
    Result {
        /// Title.
        title: String,
        /// What the CLI would print, or its refusal.
        text: String,
        /// A refusal.
        error: bool,
        /// What to do next, after a refusal.
        advice: Option<String>,
    },
}

/// The keybinding contexts of the officers' screens and dialogs, when one
/// of them has the keyboard.
pub fn contexts(s: &State) -> Option<Vec<Context>> {
    if let Some(o) = &s.acts.officer {
        return Some(o.contexts());
    }
    match &s.acts.modal {
        Some(Modal::Form(f)) if f.list.is_some() => return Some(vec![Context::Form]),
        Some(Modal::Form(_)) => return Some(vec![Context::TextField, Context::Form]),
        Some(Modal::Checking { .. }) => return Some(vec![Context::Form]),
        Some(_) => return Some(vec![Context::ActPanel]),
        None => {}
    }
    match s.tab {
        Tab::Batches => Some(vec![Context::Batches, Context::Main]),
        Tab::Orders => Some(vec![Context::Orders, Context::Main]),
        Tab::Requests => Some(vec![Context::Requests, Context::Main]),
        _ => None,
    }
}

/// The orders the filter lets through.
pub fn filtered_orders(s: &State) -> Vec<&OrderSummary> {
    let f = s.acts.order_filter.trim().to_lowercase();
    match &s.acts.orders {
        Some(Ok(o)) => o
            .iter()
            .filter(|o| {
                f.is_empty()
                    || o.id.to_lowercase().contains(&f)
                    || o.customer.to_lowercase().contains(&f)
                    || o.emails.iter().any(|e| e.contains(&f))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Requests newest first, as the Requests screen lists them.
pub fn requests_newest_first(s: &State) -> Vec<&Request> {
    match &s.requests {
        Some(Ok(r)) => r.iter().rev().collect(),
        _ => Vec::new(),
    }
}

/// The selected request.
pub fn selected_request(s: &State) -> Option<&Request> {
    requests_newest_first(s).get(s.acts.request_sel).copied()
}

fn notice(s: &mut State, text: impl Into<String>, error: bool) {
    s.notice = Some(Notice {
        text: text.into(),
        error,
    });
}

fn media_dirs(s: &State) -> Vec<PathBuf> {
    s.media.iter().map(|m| m.mount_point.clone()).collect()
}

/// Takes `action` if an officer's screen or dialog has the keyboard;
/// `None` hands it on to the app.
pub fn update(s: &mut State, action: Action) -> Option<Vec<Job>> {
    if action == Action::Quit {
        // The app asks first while unsealed (`q`, then `y`); its quit
        // closes these with everything else ([`close`]).
        return None;
    }
    if s.acts.officer.is_some() {
        return Some(officer_update(s, action));
    }
    if s.acts.modal.is_some() {
        return Some(modal_update(s, action));
    }
    let jobs = match (s.tab, action) {
        (_, Action::Act(ActKey::CardCheck)) => open_officer(s, Act::CardCheck),
        (Tab::Batches | Tab::Orders | Tab::Requests, Action::Up)
        | (Tab::Batches | Tab::Orders | Tab::Requests, Action::Down)
        | (Tab::Batches | Tab::Orders | Tab::Requests, Action::Home)
        | (Tab::Batches | Tab::Orders | Tab::Requests, Action::End) => {
            navigate(s, action);
            Vec::new()
        }
        (Tab::Batches, Action::Act(ActKey::Find)) => {
            let typed = s
                .acts
                .serial
                .as_ref()
                .map(|x| x.0.clone())
                .unwrap_or_default();
            open_form(s, FormKind::FindSerial, &[("Serial", &typed, false)])
        }
        (Tab::Batches, Action::Act(ActKey::Reject)) => match &s.acts.serial {
            Some((serial, Ok(r))) if r.state == "active" => {
                let serial = serial.trim().to_owned();
                open_form(s, FormKind::Void(serial), &[("Reason", "", false)])
            }
            Some((serial, Ok(_))) => {
                let e = VaultError::SerialVoided {
                    serial: serial.trim().to_owned(),
                };
                notice(s, e.to_string(), true);
                Vec::new()
            }
            _ => {
                notice(s, "look up the serial first (/)", true);
                Vec::new()
            }
        },
        (Tab::Orders, Action::Act(ActKey::Find)) => {
            let typed = s.acts.order_filter.clone();
            open_form(s, FormKind::FilterOrders, &[("Filter", &typed, false)])
        }
        (Tab::Orders, Action::Act(ActKey::New)) => open_form(
            s,
            FormKind::OrderAdd,
            &[
                ("Order id", "", false),
                ("Customer", "", false),
                ("Authorized e-mails", "", false),
            ],
        ),
        (Tab::Orders, Action::Act(ActKey::Assign)) => {
            let order = filtered_orders(s)
                .get(s.acts.order_sel)
                .map(|o| o.id.clone())
                .unwrap_or_default();
            open_form(
                s,
                FormKind::Assign,
                &[("Order id", &order, false), ("Serials file", "", true)],
            )
        }
        (Tab::Requests, Action::Act(ActKey::New)) => {
            let order = filtered_orders(s)
                .get(s.acts.order_sel)
                .map(|o| o.id.clone())
                .unwrap_or_default();
            open_form(
                s,
                FormKind::Request,
                &[
                    ("Order id", &order, false),
                    ("Requester e-mail", "", false),
                    ("Recipient key file", "", true),
                    ("Format", "azure-csv", false),
                    ("Serials file (optional)", "", true),
                    ("UPN file (optional)", "", true),
                ],
            )
        }
        (Tab::Requests, Action::Act(k @ (ActKey::Approve | ActKey::Reject))) => {
            decide(s, k == ActKey::Approve)
        }
        _ => return None,
    };
    Some(jobs)
}

fn navigate(s: &mut State, action: Action) {
    let (len, sel) = match s.tab {
        Tab::Batches => (
            match &s.acts.batches {
                Some(Ok(b)) => b.len(),
                _ => 0,
            },
            &mut s.acts.batch_sel,
        ),
        Tab::Orders => {
            let n = filtered_orders(s).len();
            (n, &mut s.acts.order_sel)
        }
        _ => {
            let n = requests_newest_first(s).len();
            (n, &mut s.acts.request_sel)
        }
    };
    let last = len.saturating_sub(1);
    *sel = match action {
        Action::Up => sel.saturating_sub(1),
        Action::Down => (*sel + 1).min(last),
        Action::Home => 0,
        Action::End => last,
        _ => *sel,
    };
}

fn open_form(s: &mut State, kind: FormKind, fields: &[(&'static str, &str, bool)]) -> Vec<Job> {
    let form = Form::new(kind, fields);
    let jobs = if form.has_files() {
        vec![Job::Acts(ActJob::Files(media_dirs(s)))]
    } else {
        Vec::new()
    };
    s.acts.modal = Some(Modal::Form(form));
    jobs
}

fn open_officer(s: &mut State, act: Act) -> Vec<Job> {
    s.acts.modal = None;
    s.acts.officer = Some(OfficerDialog::new(act));
    vec![Job::ScanCards(None)]
}

/// `a` or `x` on the Requests screen.
fn decide(s: &mut State, approve: bool) -> Vec<Job> {
    let Some(r) = selected_request(s).cloned() else {
        notice(s, "no request selected", true);
        return Vec::new();
    };
    if r.state != RequestState::Pending {
        let e = VaultError::RequestNotPending {
            id: r.id.clone(),
            state: r.state.kind(),
        };
        notice(s, e.to_string(), true);
        return Vec::new();
    }
    if !approve {
        return open_form(s, FormKind::Reject(r.id.clone()), &[("Reason", "", false)]);
    }
    // What the approver must know (from what the creator signed) is read
    // on the vault thread; the confirmation follows (`apply`).
    s.acts.modal = Some(Modal::Checking {
        what: format!("reading request {} as its creator signed it", r.id),
        back: None,
    });
    vec![Job::Acts(ActJob::Warnings(r.id))]
}

/// The approval's confirmation: what the approver compares and confirms.
fn approve_confirm(r: &Request, warnings: &[String]) -> Confirm {
    let mut lines = vec![
        format!(
            "Approve request {} of order {}: {} serial(s) as {}, for {}.",
            r.id,
            r.order_id,
            r.serials,
            r.format.name(),
            r.requester
        ),
        format!(
            "Created by {}; the approver must be a different officer.",
            r.created_by
        ),
    ];
    lines.extend(warnings.iter().map(|w| format!("WARNING: {w}")));
    lines.push("Compare the recipient's fingerprint with the customer, out of band:".into());
    Confirm {
        title: format!("Approve request {}", r.id),
        lines,
        recipient: Some(Recipient {
            fingerprint: r.recipient_fingerprint.clone(),
            subkeys: Vec::new(),
            user_ids: Vec::new(),
        }),
        refusal: None,
        act: Act::Approve { id: r.id.clone() },
        back: None,
        scroll: 0,
    }
}

fn officer_update(s: &mut State, action: Action) -> Vec<Job> {
    let now = s.now;
    let Some(d) = s.acts.officer.as_mut() else {
        return Vec::new();
    };
    if action == Action::Back && matches!(d.step, super::officer::OfficerStep::Working { .. }) {
        notice(s, "the act is under way; its result follows", false);
        return Vec::new();
    }
    match d.update(action, now) {
        OfficerOutcome::Stay => Vec::new(),
        OfficerOutcome::Cancel => {
            s.acts.officer = None;
            notice(s, "cancelled: nothing was signed", false);
            Vec::new()
        }
        OfficerOutcome::Scan(dir) => vec![Job::ScanCards(dir)],
        OfficerOutcome::Run { card, pass, act } => {
            vec![Job::Acts(ActJob::Run { card, pass, act })]
        }
    }
}

fn modal_update(s: &mut State, action: Action) -> Vec<Job> {
    let Some(modal) = s.acts.modal.take() else {
        return Vec::new();
    };
    match modal {
        Modal::Form(f) => form_update(s, f, action),
        Modal::Checking { what, back } => {
            s.acts.modal = if action == Action::Back {
                back.map(Modal::Form)
            } else {
                Some(Modal::Checking { what, back })
            };
            Vec::new()
        }
        Modal::Confirm(mut c) => match action {
            Action::Back => {
                s.acts.modal = c.back.take().map(Modal::Form);
                Vec::new()
            }
            Action::Up => {
                c.scroll = c.scroll.saturating_sub(1);
                s.acts.modal = Some(Modal::Confirm(c));
                Vec::new()
            }
            Action::Down => {
                c.scroll = c.scroll.saturating_add(1).min(40);
                s.acts.modal = Some(Modal::Confirm(c));
                Vec::new()
            }
            Action::Confirm if c.refusal.is_some() => {
                notice(s, "refused: Esc goes back to change it", true);
                s.acts.modal = Some(Modal::Confirm(c));
                Vec::new()
            }
            Action::Confirm => open_officer(s, c.act),
            _ => {
                s.acts.modal = Some(Modal::Confirm(c));
                Vec::new()
            }
        },
        Modal::Result { .. } if matches!(action, Action::Confirm | Action::Back) => Vec::new(),
        m @ Modal::Result { .. } => {
            s.acts.modal = Some(m);
            Vec::new()
        }
    }
}

fn form_update(s: &mut State, mut f: Form, action: Action) -> Vec<Job> {
    let files = s.acts.files.len();
    if let Some(cur) = f.list {
        match action {
            Action::Back => f.list = None,
            Action::Up => f.list = Some(cur.saturating_sub(1)),
            Action::Down => f.list = Some((cur + 1).min(files.saturating_sub(1))),
            Action::Confirm => {
                if let (Some(p), Some(field)) = (s.acts.files.get(cur), f.fields.get_mut(f.focus)) {
                    field.value = p.display().to_string();
                }
                f.list = None;
            }
            Action::SwitchFocus => {
                f.list = None;
                f.focus = (f.focus + 1) % f.fields.len().max(1);
            }
            Action::Act(ActKey::PrevField) => f.list = None,
            _ => {}
        }
        s.acts.modal = Some(Modal::Form(f));
        return Vec::new();
    }
    let n = f.fields.len().max(1);
    match action {
        Action::Back => {
            if f.kind == FormKind::FilterOrders {
                s.acts.order_filter.clear();
            }
            return Vec::new();
        }
        Action::Input(c) => {
            if let Some(field) = f.fields.get_mut(f.focus) {
                field.value.push(c);
            }
        }
        Action::Backspace => {
            if let Some(field) = f.fields.get_mut(f.focus) {
                field.value.pop();
            }
        }
        Action::ClearInput => {
            if let Some(field) = f.fields.get_mut(f.focus) {
                field.value.clear();
            }
        }
        Action::SwitchFocus => {
            let on_file = f.fields.get(f.focus).is_some_and(|x| x.file);
            if on_file && files > 0 {
                f.list = Some(0);
            } else {
                f.focus = (f.focus + 1) % n;
            }
        }
        Action::Act(ActKey::PrevField) => f.focus = (f.focus + n - 1) % n,
        Action::Confirm => return submit(s, f),
        _ => {}
    }
    if f.kind == FormKind::FilterOrders {
        s.acts.order_filter = f.value(0);
        s.acts.order_sel = 0;
    }
    s.acts.modal = Some(Modal::Form(f));
    Vec::new()
}

/// Splits the e-mail field: commas, semicolons or spaces.
fn emails(text: &str) -> Vec<String> {
    text.split([',', ';', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn submit(s: &mut State, mut f: Form) -> Vec<Job> {
    let refuse = |s: &mut State, mut f: Form, why: String| {
        f.error = Some(why);
        s.acts.modal = Some(Modal::Form(f));
        Vec::new()
    };
    match f.kind.clone() {
        FormKind::FindSerial => {
            let serial = f.value(0);
            if serial.is_empty() {
                return refuse(s, f, "type a serial".into());
            }
            s.acts.serial = None;
            s.tab = Tab::Batches;
            vec![Job::Acts(ActJob::Serial(serial))]
        }
        FormKind::FilterOrders => Vec::new(),
        FormKind::OrderAdd => {
            let (id, customer, mails) = (f.value(0), f.value(1), emails(&f.value(2)));
            if let Err(e) = check_free_text("the customer name", &customer) {
                return refuse(s, f, e.to_string());
            }
            let lines = vec![
                format!("Record order {id} for customer {customer}."),
                format!(
                    "Authorized to request its seeds: {}",
                    if mails.is_empty() {
                        "(none)".to_owned()
                    } else {
                        mails.join(", ")
                    }
                ),
                "Logged as order.added with the officer's name.".into(),
            ];
            f.error = None;
            s.acts.modal = Some(Modal::Confirm(Box::new(Confirm {
                title: format!("Add order {id}"),
                lines,
                recipient: None,
                refusal: None,
                act: Act::OrderAdd {
                    id,
                    customer,
                    emails: mails,
                },
                back: Some(f),
                scroll: 0,
            })));
            Vec::new()
        }
        FormKind::Assign => {
            let (order, file) = (f.value(0), f.value(1));
            if file.is_empty() {
                return refuse(
                    s,
                    f,
                    "give the serials file (Tab: files on the media)".into(),
                );
            }
            f.error = None;
            s.acts.modal = Some(Modal::Checking {
                what: format!("checking {file} against order {order}"),
                back: Some(f),
            });
            vec![Job::Acts(ActJob::CheckAssign {
                order,
                file: PathBuf::from(file),
            })]
        }
        FormKind::Request => {
            let serials = f.value(4);
            let upns = f.value(5);
            let draft = RequestDraft {
                order: f.value(0),
                requester: f.value(1),
                key_file: PathBuf::from(f.value(2)),
                format: f.value(3),
                serials_file: (!serials.is_empty()).then(|| PathBuf::from(serials)),
                upn_file: (!upns.is_empty()).then(|| PathBuf::from(upns)),
            };
            if let Err(e) = work::parse_format(&draft.format) {
                return refuse(s, f, e);
            }
            if f.value(2).is_empty() {
                return refuse(
                    s,
                    f,
                    "give the recipient's key file (Tab: files on the media)".into(),
                );
            }
            f.error = None;
            s.acts.modal = Some(Modal::Checking {
                what: format!("checking the request for order {}", draft.order),
                back: Some(f),
            });
            vec![Job::Acts(ActJob::Preview(draft))]
        }
        FormKind::Reject(id) => {
            let reason = f.value(0);
            if reason.is_empty() {
                return refuse(s, f, "a rejection needs a reason".into());
            }
            if let Err(e) = check_free_text("the reason", &reason) {
                return refuse(s, f, e.to_string());
            }
            s.acts.modal = Some(Modal::Confirm(Box::new(Confirm {
                title: format!("Reject request {id}"),
                lines: vec![
                    format!("Reject request {id}: {reason}"),
                    "A rejected request can never be approved or exported.".into(),
                ],
                recipient: None,
                refusal: None,
                act: Act::Reject { id, reason },
                back: Some(f),
                scroll: 0,
            })));
            Vec::new()
        }
        FormKind::Void(serial) => {
            let reason = f.value(0);
            if let Err(e) = check_free_text("the reason", &reason) {
                return refuse(s, f, e.to_string());
            }
            s.acts.modal = Some(Modal::Confirm(Box::new(Confirm {
                title: format!("Void serial {serial}"),
                lines: vec![
                    format!("Void serial {serial}: it can never be exported."),
                    format!("Reason: {reason}"),
                    "This cannot be undone.".into(),
                ],
                recipient: None,
                refusal: None,
                act: Act::Void { serial, reason },
                back: Some(f),
                scroll: 0,
            })));
            Vec::new()
        }
    }
}

/// Folds a reply of the officers' screens into the state.
pub fn apply(s: &mut State, reply: ActReply) {
    match reply {
        ActReply::Lists(l) => set_lists(s, l),
        ActReply::Serial(serial, r) => s.acts.serial = Some((serial, r)),
        ActReply::Files(f) => s.acts.files = f,
        ActReply::Assign(r) => {
            let Some(Modal::Checking {
                back: Some(back), ..
            }) = s.acts.modal.take()
            else {
                return;
            };
            let (order, file) = (back.value(0), back.value(1));
            let (lines, refusal) = match r {
                Ok(p) => (
                    vec![
                        format!(
                            "{} serial(s) will be assigned to order {} ({} already were).",
                            p.fresh.len(),
                            p.order_id,
                            p.already
                        ),
                        format!("From {file}."),
                    ],
                    None,
                ),
                Err(e) => (vec![format!("From {file}.")], Some(e)),
            };
            s.acts.modal = Some(Modal::Confirm(Box::new(Confirm {
                title: format!("Assign shipped serials to order {order}"),
                lines,
                recipient: None,
                refusal,
                act: Act::Assign {
                    order,
                    file: PathBuf::from(file),
                },
                back: Some(back),
                scroll: 0,
            })));
        }
        ActReply::Preview(r) => {
            let Some(Modal::Checking {
                back: Some(back), ..
            }) = s.acts.modal.take()
            else {
                return;
            };
            let serials = back.value(4);
            let upns = back.value(5);
            let draft = RequestDraft {
                order: back.value(0),
                requester: back.value(1),
                key_file: PathBuf::from(back.value(2)),
                format: back.value(3),
                serials_file: (!serials.is_empty()).then(|| PathBuf::from(serials)),
                upn_file: (!upns.is_empty()).then(|| PathBuf::from(upns)),
            };
            let (lines, recipient, refusal) = match r {
                Ok(p) => (
                    std::iter::once(format!(
                        "Order {} for {}: {} serial(s) as {}.",
                        draft.order, draft.requester, p.serials, draft.format
                    ))
                    .chain(p.warnings.iter().map(|w| format!("WARNING: {w}")))
                    .collect(),
                    p.recipient_fingerprint
                        .clone()
                        .map(|fingerprint| Recipient {
                            fingerprint,
                            subkeys: p.encryption_subkeys.clone(),
                            user_ids: p.user_ids.clone(),
                        }),
                    p.refusal(),
                ),
                Err(e) => (Vec::new(), None, Some(e)),
            };
            s.acts.modal = Some(Modal::Confirm(Box::new(Confirm {
                title: format!("Create a seed request for order {}", draft.order),
                lines,
                recipient,
                refusal,
                act: Act::Create(draft),
                back: Some(back),
                scroll: 0,
            })));
        }
        ActReply::Warnings(id, warnings) => {
            if !matches!(s.acts.modal, Some(Modal::Checking { back: None, .. })) {
                return;
            }
            let req = match &s.requests {
                Some(Ok(list)) => list.iter().find(|r| r.id == id).cloned(),
                _ => None,
            };
            s.acts.modal = req.map(|r| Modal::Confirm(Box::new(approve_confirm(&r, &warnings))));
        }
        ActReply::Done(r, lists, serial) => {
            let title = s
                .acts
                .officer
                .take()
                .map(|d| d.what)
                .unwrap_or_else(|| "the act".into());
            set_lists(s, lists);
            if serial.is_some() {
                s.acts.serial = serial;
            }
            let (text, error, advice) = match r {
                Ok(t) => (t, false, None),
                Err(e) => (e.message, true, e.advice),
            };
            notice(
                s,
                if error {
                    format!("refused: {title}")
                } else {
                    format!("done: {title}")
                },
                error,
            );
            s.acts.modal = Some(Modal::Result {
                title: if error {
                    format!("Refused: {title}")
                } else {
                    format!("Done: {title}")
                },
                text,
                error,
                advice,
            });
        }
    }
}

fn set_lists(s: &mut State, l: Lists) {
    s.acts.batches = Some(l.batches);
    s.acts.orders = Some(l.orders);
    let nb = match &s.acts.batches {
        Some(Ok(b)) => b.len(),
        _ => 0,
    };
    s.acts.batch_sel = s.acts.batch_sel.min(nb.saturating_sub(1));
    let no = filtered_orders(s).len();
    s.acts.order_sel = s.acts.order_sel.min(no.saturating_sub(1));
}

/// The card scan's answer goes to the officer dialog when it is open.
/// Returns false when it is not (the unseal dialog's then).
pub fn cards_found(
    s: &mut State,
    dirs: Vec<PathBuf>,
    cards: Vec<super::worker::CardInfo>,
    errors: Vec<String>,
) -> Option<(Vec<PathBuf>, Vec<super::worker::CardInfo>, Vec<String>)> {
    match s.acts.officer.as_mut() {
        Some(d) => {
            d.cards_found(dirs, cards, errors);
            None
        }
        None => Some((dirs, cards, errors)),
    }
}

/// Closes the officer dialog and any modal (on quit): wipes a typed
/// passphrase with everything else.
pub fn close(s: &mut State) {
    s.acts.officer = None;
    s.acts.modal = None;
}

/// After the idle timeout: a half-typed officer passphrase is wiped.
pub fn idle(s: &mut State) {
    if s.acts
        .officer
        .as_ref()
        .is_some_and(OfficerDialog::holds_passphrase)
    {
        s.acts.officer = None;
        notice(
            s,
            "officer dialog closed after the idle timeout; the typed passphrase is wiped",
            false,
        );
    }
}

/// Whether a snapshot reply should be followed by a lists read (the app
/// re-reads the lists when the Batches or Orders tab is opened).
pub fn wants_lists(tab: Tab) -> bool {
    matches!(tab, Tab::Batches | Tab::Orders | Tab::Requests)
}
