//! The proof: every touched key re-read from etcd at one new pinned revision and judged again
//! with the same config and policy as the plan.

use futures::StreamExt as _;

use crate::source::SourceError;
use crate::source::live::KeyReader;
use crate::verdict::{Judge, Record};

/// Point reads in flight while verifying.
const READS_IN_FLIGHT: usize = 32;

/// What etcd holds for each key at `revision`: its record, or None if the key is gone.
#[derive(Debug, Default)]
pub struct Verified {
    /// The revision every key was read at.
    pub revision: i64,
    /// (key, record), in key order.
    pub records: Vec<(Vec<u8>, Option<Record>)>,
}

/// Re-reads `keys` at the current revision (pinned once for all of them) and judges them.
pub async fn verify(
    reader: &KeyReader,
    judge: &Judge<'_>,
    mut keys: Vec<Vec<u8>>,
) -> Result<Verified, SourceError> {
    keys.sort_unstable();
    keys.dedup();
    // Any read at revision 0 reports the current revision in its header.
    let (_, revision) = reader.get(b"\0", 0).await?;
    let mut records: Vec<(Vec<u8>, Option<Record>)> = futures::stream::iter(keys)
        .map(|key| async move {
            let (kv, _) = reader.get(&key, revision).await?;
            Ok::<_, SourceError>((key, kv.map(|kv| judge.judge(kv))))
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Verified { revision, records })
}
