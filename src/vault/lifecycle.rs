//! A seed request's life, as types.
//!
//! A request is created pending, a second officer approves it (until an
//! expiry) or rejects it (for a reason), and an approved one is exported
//! once. The `requests` table and the log name these stages as text; this
//! module is the one place where that text is read and written
//! ([`RequestStateKind::parse`] and [`RequestStateKind::as_str`]), and
//! where a row's columns become a [`RequestState`] that carries what its
//! stage needs. Everything else matches on variants, so a misspelt stage
//! or an approval without an expiry cannot get past the row that holds it.
//!
//! The disk is not trusted (SPEC §8): a row whose state names no stage, or
//! lacks what its stage needs, is refused as tampering where it is read.
//! What an export acts on is still only what the officers signed (see
//! `approval.rs`); this module only keeps the unsigned view honest.

use std::fmt;

use serde::{Serialize, Serializer};

use super::VaultError;
use crate::formats::Format;

/// The stage of a request alone, as the table and the log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStateKind {
    /// Created, waiting for a second officer.
    Pending,
    /// Approved, not yet exported.
    Approved,
    /// Rejected.
    Rejected,
    /// Exported (the approval is used up).
    Exported,
}

impl RequestStateKind {
    /// Every stage, in the order a request goes through them.
    pub const ALL: [RequestStateKind; 4] = [
        RequestStateKind::Pending,
        RequestStateKind::Approved,
        RequestStateKind::Rejected,
        RequestStateKind::Exported,
    ];

    /// The name in the `requests.state` column, the log and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStateKind::Pending => "pending",
            RequestStateKind::Approved => "approved",
            RequestStateKind::Rejected => "rejected",
            RequestStateKind::Exported => "exported",
        }
    }

    /// The inverse of [`RequestStateKind::as_str`]; `None` for any other text.
    pub fn parse(text: &str) -> Option<RequestStateKind> {
        RequestStateKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for RequestStateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so column widths in listings apply.
        f.pad(self.as_str())
    }
}

impl Serialize for RequestStateKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where a request stands, with what that stage carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState {
    /// Created, waiting for a second officer.
    Pending,
    /// Approved; exportable until `expires_at`.
    Approved {
        /// End of the approval, unix seconds.
        expires_at: i64,
    },
    /// Rejected.
    Rejected {
        /// Why, as the rejecting officer gave it.
        reason: String,
    },
    /// Exported under an approval that ran until `expires_at`.
    Exported {
        /// End of the approval it was exported under, unix seconds.
        expires_at: i64,
    },
}

/// Whether an approval that ends at `expires_at` has ended at `now` (both
/// unix seconds). The one statement of the rule: the export's proof value
/// and the listings both ask it.
pub(crate) fn approval_ended(expires_at: i64, now: i64) -> bool {
    expires_at <= now
}

impl RequestState {
    /// The stage alone.
    pub fn kind(&self) -> RequestStateKind {
        match self {
            RequestState::Pending => RequestStateKind::Pending,
            RequestState::Approved { .. } => RequestStateKind::Approved,
            RequestState::Rejected { .. } => RequestStateKind::Rejected,
            RequestState::Exported { .. } => RequestStateKind::Exported,
        }
    }

    /// The approval's end, for an approved or exported request.
    pub fn expires_at(&self) -> Option<i64> {
        match self {
            RequestState::Approved { expires_at } | RequestState::Exported { expires_at } => {
                Some(*expires_at)
            }
            RequestState::Pending | RequestState::Rejected { .. } => None,
        }
    }

    /// The reason of a rejected request.
    pub fn reject_reason(&self) -> Option<&str> {
        match self {
            RequestState::Rejected { reason } => Some(reason),
            _ => None,
        }
    }

    /// The state of request `id` from its `state`, `expires_at` and
    /// `reject_reason` columns. A state that names no stage, or a stage
    /// without the column it needs, is tampering; the message never
    /// repeats the unreadable text.
    pub(crate) fn from_columns(
        id: &str,
        state: &str,
        expires_at: Option<i64>,
        reject_reason: Option<String>,
    ) -> Result<RequestState, VaultError> {
        let tampered = |what: &str| VaultError::RequestTampered {
            id: id.to_owned(),
            what: what.to_owned(),
        };
        let kind = RequestStateKind::parse(state).ok_or_else(|| {
            tampered("its state in the table is none of pending, approved, rejected, exported")
        })?;
        Ok(match kind {
            RequestStateKind::Pending => RequestState::Pending,
            RequestStateKind::Approved => RequestState::Approved {
                expires_at: expires_at.ok_or_else(|| {
                    tampered("it is marked approved but carries no signed approval (no expiry)")
                })?,
            },
            RequestStateKind::Rejected => RequestState::Rejected {
                reason: reject_reason
                    .ok_or_else(|| tampered("it is marked rejected but carries no reason"))?,
            },
            RequestStateKind::Exported => RequestState::Exported {
                expires_at: expires_at.ok_or_else(|| {
                    tampered("it is marked exported but carries no approval expiry")
                })?,
            },
        })
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().fmt(f)
    }
}

/// The bundle format of request `id` from its `format` column; a name no
/// format has is tampering (and is not repeated).
pub(crate) fn format_from_column(id: &str, name: &str) -> Result<Format, VaultError> {
    Format::from_name(name).ok_or_else(|| VaultError::RequestTampered {
        id: id.to_owned(),
        what: "its format in the table is not one this seedvault knows".into(),
    })
}

/// A seed request as recorded (the unsigned view: listings and the
/// terminal UI; an export acts on an [`ApprovedRequest`] instead).
///
/// [`ApprovedRequest`]: super::ApprovedRequest
#[derive(Debug, Clone)]
pub struct Request {
    /// Request id.
    pub id: String,
    /// Order.
    pub order_id: String,
    /// Who asked.
    pub requester: String,
    /// Bundle format.
    pub format: Format,
    /// Recipient certificate fingerprint.
    pub recipient_fingerprint: String,
    /// Where it stands.
    pub state: RequestState,
    /// Number of serials.
    pub serials: u64,
    /// Set for a re-export.
    pub reexport_reason: Option<String>,
    /// When created.
    pub created_at: String,
    /// Officer who created it.
    pub created_by: String,
    /// Officer who approved or rejected it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
}

impl Request {
    /// Whether it is approved but the approval has ended at `now` (unix
    /// seconds): it can no longer be exported.
    pub fn approval_expired(&self, now: i64) -> bool {
        match self.state {
            RequestState::Approved { expires_at } => approval_ended(expires_at, now),
            _ => false,
        }
    }
}

/// `request list --json`: the flat shape it always had (state and format
/// by name, the reason and expiry as their own fields).
#[derive(Serialize)]
struct RequestJson<'a> {
    id: &'a str,
    order_id: &'a str,
    requester: &'a str,
    format: &'static str,
    recipient_fingerprint: &'a str,
    state: RequestStateKind,
    serials: u64,
    reexport_reason: Option<&'a str>,
    created_at: &'a str,
    created_by: &'a str,
    decided_by: Option<&'a str>,
    decided_at: Option<&'a str>,
    reject_reason: Option<&'a str>,
    expires_at: Option<i64>,
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RequestJson {
            id: &self.id,
            order_id: &self.order_id,
            requester: &self.requester,
            format: self.format.name(),
            recipient_fingerprint: &self.recipient_fingerprint,
            state: self.state.kind(),
            serials: self.serials,
            reexport_reason: self.reexport_reason.as_deref(),
            created_at: &self.created_at,
            created_by: &self.created_by,
            decided_by: self.decided_by.as_deref(),
            decided_at: self.decided_at.as_deref(),
            reject_reason: self.state.reject_reason(),
            expires_at: self.state.expires_at(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_and_nothing_else_parses() {
        for k in RequestStateKind::ALL {
            assert_eq!(RequestStateKind::parse(k.as_str()), Some(k));
        }
        for bad in ["", "Approved", "approved ", "approve", "done"] {
            assert_eq!(RequestStateKind::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_stage_without_its_column_is_tampering_and_the_text_is_not_repeated() {
        let e = RequestState::from_columns("R0001", "approved", None, None).unwrap_err();
        assert!(e.is_tampering());
        assert!(e.to_string().contains("no signed approval"), "{e}");
        let e = RequestState::from_columns("R0001", "rejected", None, None).unwrap_err();
        assert!(e.to_string().contains("no reason"), "{e}");
        let e = RequestState::from_columns("R0001", "exported", None, None).unwrap_err();
        assert!(e.to_string().contains("no approval expiry"), "{e}");
        let e = RequestState::from_columns("R0001", "s3cr3t-ish", None, None).unwrap_err();
        assert!(e.is_tampering());
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert_eq!(
            RequestState::from_columns("R0001", "approved", Some(10), None).unwrap(),
            RequestState::Approved { expires_at: 10 }
        );
    }

    #[test]
    fn only_an_approval_whose_end_has_come_is_expired() {
        let r = |state| Request {
            id: "R0001".into(),
            order_id: "1".into(),
            requester: "a@b.example".into(),
            format: Format::Hex,
            recipient_fingerprint: "F".into(),
            state,
            serials: 1,
            reexport_reason: None,
            created_at: String::new(),
            created_by: "alice".into(),
            decided_by: None,
            decided_at: None,
        };
        assert!(!r(RequestState::Approved { expires_at: 101 }).approval_expired(100));
        assert!(r(RequestState::Approved { expires_at: 100 }).approval_expired(100));
        assert!(!r(RequestState::Exported { expires_at: 1 }).approval_expired(100));
        assert!(!r(RequestState::Pending).approval_expired(100));
    }

    #[test]
    fn json_keeps_its_flat_shape() {
        let mut q = Request {
            id: "R0001".into(),
            order_id: "1".into(),
            requester: "a@b.example".into(),
            format: Format::AzureCsv,
            recipient_fingerprint: "F".into(),
            state: RequestState::Rejected {
                reason: "no".into(),
            },
            serials: 2,
            reexport_reason: None,
            created_at: "t".into(),
            created_by: "alice".into(),
            decided_by: Some("bob".into()),
            decided_at: Some("u".into()),
        };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["state"], "rejected");
        assert_eq!(v["format"], "azure-csv");
        assert_eq!(v["reject_reason"], "no");
        assert_eq!(v["expires_at"], serde_json::Value::Null);
        assert_eq!(v.as_object().unwrap().len(), 14);
        q.state = RequestState::Approved { expires_at: 7 };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            (v["state"].clone(), v["expires_at"].clone()),
            ("approved".into(), 7.into())
        );
        assert_eq!(v["reject_reason"], serde_json::Value::Null);
    }
}
