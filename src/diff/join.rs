//! The merge-join: both reports walked in step by etcd key, each key classified once.

use std::path::Path;

use super::compare::{EncryptedResources, classify};
use super::read::Stream;
use super::{ChangeKind, DiffError, DiffSink, DiffSummary};

/// Options of [`diff`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    /// Also hand modRevision-only changes to the sink (`--all`).
    pub list_rewritten: bool,
}

/// Diffs two report files into `sink`: OLD is checked in full first, then both are merged by key.
pub fn diff(
    old: &Path,
    new: &Path,
    opts: DiffOptions,
    sink: &mut dyn DiffSink,
) -> Result<DiffSummary, DiffError> {
    let is_file = std::fs::metadata(old)
        .map_err(|source| DiffError::Open { path: old.to_owned(), source })?
        .is_file();
    if !is_file {
        return Err(DiffError::NotAFile { path: old.to_owned() });
    }
    let encrypted = EncryptedResources::collect(old)?;
    let (mut o, mut n) = (Stream::open(old)?, Stream::open(new)?);
    let (old_side, new_side) = (o.side()?, n.side()?);
    sink.begin(&old_side, &new_side).map_err(DiffError::Output)?;
    let mut summary = DiffSummary::default();
    let (mut a, mut b) = (o.next()?, n.next()?);
    loop {
        // The smaller key goes alone; the other record waits for the next round.
        let (x, y) = match (a.take(), b.take()) {
            (None, None) => break,
            (Some(x), Some(y)) if x.key < y.key => {
                b = Some(y);
                (Some(x), None)
            }
            (Some(x), Some(y)) if x.key > y.key => {
                a = Some(x);
                (None, Some(y))
            }
            pair => pair,
        };
        match classify(x.as_ref(), y.as_ref(), &encrypted) {
            None => summary.unchanged += 1,
            Some(c) => {
                summary.count(&c);
                if c.change != ChangeKind::Rewritten || opts.list_rewritten {
                    sink.change(&c).map_err(DiffError::Output)?;
                }
            }
        }
        if x.is_some() {
            a = o.next()?;
        }
        if y.is_some() {
            b = n.next()?;
        }
    }
    sink.finish(&summary).map_err(DiffError::Output)?;
    Ok(summary)
}
