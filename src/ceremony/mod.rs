//! Ceremonies the tool walks and records.
//!
//! The IANA root KSK ceremonies are the model: roles in the room, a
//! script of numbered steps with Activity, Initials and Time columns, and
//! every exception written down. Here the script is data
//! (`ceremony-scripts/*.toml`, read strictly by [`script`]), the tool
//! walks it in plain lines ([`run`]) and performs its tool steps through
//! the library ([`actions`], as the CLI's commands do), and every step
//! lands in the vault's hash-chained log between `ceremony.started` and
//! `ceremony.finished` ([`record`]). The transcript ([`transcript`]) is a
//! rendering of those entries, clearsigned by the vault key when a quorum
//! is held at the end, so what the room initialled on paper, what the
//! log holds and what auditors verify with `gpg` are one record.

mod actions;
pub mod record;
pub mod run;
pub mod script;
pub mod transcript;

pub use record::{CeremonyRecord, Outcome, Participant, StepResult};
pub use run::{list, run, show, CeremonyError, Console, RunOptions, RunOutcome};
pub use script::{Action, Answers, OnFailure, Script, ScriptError, Step, StepKind};
