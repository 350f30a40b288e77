//! Process hygiene at start: no core dumps, no ptrace by other users.
//!
//! A core dump of an unsealed vault would put the master key and seeds on
//! disk. `RLIMIT_CORE = 0` stops the kernel writing one, and clearing the
//! dumpable flag also keeps other unprivileged processes from attaching a
//! debugger. Both go through rustix's safe wrappers, so no `unsafe` here.

use rustix::process::{setrlimit, Resource, Rlimit};

/// Hardening could not be applied; the binary refuses to handle secrets.
#[derive(Debug, thiserror::Error)]
#[error("cannot disable core dumps: {0}")]
pub struct HygieneError(String);

/// Disables core dumps for this process and its children.
pub fn harden_process() -> Result<(), HygieneError> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| HygieneError(e.to_string()))?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| HygieneError(e.to_string()))?;
    Ok(())
}

/// Whether core dumps are off (for `status` and tests).
pub fn core_dumps_disabled() -> bool {
    let l = rustix::process::getrlimit(Resource::Core);
    l.current == Some(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hardening_turns_core_dumps_off() {
        super::harden_process().unwrap();
        assert!(super::core_dumps_disabled());
    }
}
