//! "Now", in one place.
//!
//! Approvals expire, recipient keys expire and the terminal UI shows what
//! is about to: every one of those asks this module for the time, so a
//! reader finds the vault's one notion of the clock here, and a change to
//! it (a monotonic guard, a test clock) has one place to go.

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock now.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Unix time now, in seconds (a clock set before 1970 reads as 0).
pub fn unix_now() -> i64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
