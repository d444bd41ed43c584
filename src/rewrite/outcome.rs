//! How one object of a rewrite ended, and its line in the journal.

use super::journal::Entry;
use super::plan::Target;

/// Why a 200 without a new resourceVersion matters (storage-layout doc §5.1 short-circuit).
pub const UNCHANGED: &str = "the API server accepted the apply but did not write: it does not \
    consider this object stale, so its EncryptionConfiguration (write key order), KMS plugin or \
    storage version differs from what atrest judged with";

/// How one object ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server wrote it: a new resourceVersion.
    Rewritten {
        /// The new resourceVersion, when the server said.
        to: Option<i64>,
    },
    /// 200 with the same resourceVersion: the server saw nothing to write (storage-layout §5.1
    /// short-circuit), so its config or version differs from the one atrest judged with.
    Unchanged,
    /// Someone else changed it meanwhile, and it is current now.
    AlreadyCurrent,
    /// Deleted meanwhile.
    Gone,
    /// Not rewritten; why.
    Failed(String),
    /// Not attempted (not served, no patch verb); why.
    Skipped(String),
    /// Ctrl-C (or a fatal answer) came first.
    Interrupted,
}

impl Outcome {
    /// The name in reports and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Rewritten { .. } => "rewritten",
            Self::Unchanged => "unchanged",
            Self::AlreadyCurrent => "alreadyCurrent",
            Self::Gone => "gone",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
            Self::Interrupted => "interrupted",
        }
    }

    /// Why, for failures, skips and writes the server did not make.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Failed(d) | Self::Skipped(d) => Some(d),
            Self::Unchanged => Some(UNCHANGED),
            _ => None,
        }
    }
}

/// One finished object.
#[derive(Clone, Debug)]
pub struct Done {
    /// The object, with the uid and resourceVersion of the last attempt.
    pub target: Target,
    /// The resourceVersion it was planned at.
    pub planned_revision: i64,
    /// How it ended.
    pub outcome: Outcome,
    /// Applies sent.
    pub attempts: u32,
    /// 409 answers.
    pub conflicts: u32,
    /// Retries after 429/5xx/transport errors.
    pub retries: u32,
}

impl Done {
    /// Its line in the journal.
    pub fn journal_entry(&self) -> Entry {
        Entry {
            key: self.target.key_str(),
            uid: self.target.uid.clone(),
            from_revision: self.planned_revision,
            outcome: self.outcome.name().to_owned(),
            to_revision: match self.outcome {
                Outcome::Rewritten { to } => to,
                _ => None,
            },
            detail: self.outcome.detail().map(str::to_owned),
        }
    }

    /// An object an earlier run finished, as its journal line says (`e` is final, see
    /// [`Entry::is_final`]).
    pub fn resumed(target: Target, e: &Entry) -> Self {
        let outcome = match e.outcome.as_str() {
            "rewritten" => Outcome::Rewritten { to: e.to_revision },
            "unchanged" => Outcome::Unchanged,
            "alreadyCurrent" => Outcome::AlreadyCurrent,
            _ => Outcome::Gone,
        };
        Self {
            planned_revision: e.from_revision,
            target,
            outcome,
            attempts: 0,
            conflicts: 0,
            retries: 0,
        }
    }
}
