//! Exit codes of shared/docs/cli-contract.md.

use std::process::ExitCode;

/// How a command ended without a fatal error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: nothing at or above --fail-on.
    Ok,
    /// 1: findings at or above --fail-on.
    Findings,
    /// 4: `rewrite` finished, and some objects are still stale in etcd.
    StillStale,
    /// 130: stopped by Ctrl-C (after the requests in flight, and a report of what was done).
    Interrupted,
}

/// A fatal error with its exit code: 2 usage/configuration, 3 source.
#[derive(Debug)]
pub struct Failure {
    /// 2 or 3.
    pub code: u8,
    /// What went wrong, with context.
    pub error: anyhow::Error,
}

impl Failure {
    /// Usage or configuration error: exit 2.
    pub fn usage(error: anyhow::Error) -> Self {
        Self { code: 2, error }
    }

    /// Source error (etcd unreachable, auth, compacted): exit 3.
    pub fn source(error: anyhow::Error) -> Self {
        Self { code: 3, error }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Ok => Self::SUCCESS,
            Exit::Findings => Self::from(1),
            Exit::StillStale => Self::from(4),
            Exit::Interrupted => Self::from(130),
        }
    }
}
