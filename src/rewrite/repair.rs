//! One repair after its scan: resume from the journal, write the rest through the engine,
//! then verify every touched key in etcd and count what it found.

use std::path::Path;
use std::time::Instant;

use super::engine::{Denied, Engine};
use super::journal::{self, JournalError, JournalHeader};
use super::verify::{Verified, verify};
use super::{Counts, Done, Outcome, Plan};
use crate::source::SourceError;
use crate::source::live::KeyReader;
use crate::verdict::{Judge, Status};

/// What a repair did and what etcd holds afterwards.
#[derive(Debug)]
pub struct Repaired {
    /// Every planned object's outcome (resumed ones included).
    pub done: Vec<Done>,
    /// The counts.
    pub counts: Counts,
    /// The touched keys as read back.
    pub verified: Verified,
}

/// Why a repair did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The journal cannot be used (another config or prefix, unreadable): the user decides.
    #[error(transparent)]
    JournalOpen(JournalError),
    /// The journal could not be completed on disk.
    #[error(transparent)]
    JournalWrite(JournalError),
    /// The API server refused a write for lack of permissions.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Reading the touched keys back failed.
    #[error("verifying in etcd")]
    Verify(#[source] SourceError),
}

/// Runs the plan through `engine` (built on `judge` and `reader`, which verify the result).
/// `journal`: earlier runs' finished objects are left alone (and verified again with the
/// rest), every new outcome is appended. `started(n)` is told how many objects will be
/// written, `progress()` once per object written.
pub async fn repair(
    engine: &Engine<'_>,
    judge: &Judge<'_>,
    reader: &KeyReader,
    plan: &Plan,
    journal: Option<(&Path, JournalHeader)>,
    started: impl FnOnce(u64),
    mut progress: impl FnMut(),
) -> Result<Repaired, RepairError> {
    let mut counts = Counts { planned: plan.targets.len() as u64, ..Counts::default() };
    let (earlier, journal) = match journal {
        Some((path, header)) => {
            let (earlier, j) = journal::open(path, &header).map_err(RepairError::JournalOpen)?;
            (earlier, Some(j))
        }
        None => Default::default(),
    };
    let mut touched: Vec<Vec<u8>> =
        earlier.values().filter(|e| e.is_final()).map(|e| e.key.clone().into_bytes()).collect();
    let mut done: Vec<Done> = Vec::with_capacity(plan.targets.len());
    let mut targets = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        match earlier.get(&t.key_str()).filter(|e| e.is_final() && e.uid == t.uid) {
            Some(e) => {
                counts.resumed += 1;
                done.push(Done::resumed(t.clone(), e));
            }
            None => targets.push(t.clone()),
        }
    }
    touched.extend(plan.targets.iter().map(|t| t.key.clone()));
    started(targets.len() as u64);
    let clock = Instant::now();
    let denied = engine
        .run(targets, |d| {
            progress();
            counts.add(&d);
            if let (Some(j), false) = (&journal, d.outcome == Outcome::Interrupted) {
                j.append(d.journal_entry());
            }
            done.push(d);
        })
        .await;
    counts.seconds = clock.elapsed().as_secs_f64();
    if let Some(j) = journal {
        j.finish().map_err(RepairError::JournalWrite)?;
    }
    if let Some(denied) = denied {
        return Err(denied.into());
    }
    let verified = verify(reader, judge, touched).await.map_err(RepairError::Verify)?;
    for (_, rec) in &verified.records {
        match rec.as_ref().map(|r| r.status) {
            Some(Status::Stale) => counts.still_stale += 1,
            Some(Status::Current) => counts.verified_current += 1,
            Some(Status::Unreadable) => counts.verified_unreadable += 1,
            Some(Status::Skipped) | None => {}
        }
    }
    Ok(Repaired { done, counts, verified })
}
