//! The pinned-revision scan: keys-only listing in large chunks, values in byte-sized ranges,
//! and resumption after a compaction (module docs of [`super`]).

use etcd_client::GetOptions;
use tokio::sync::mpsc;

use super::{LiveSource, prefix_end, raw_kv};
use crate::source::{Page, RawKv, Restart, ScanStats, SourceError};

/// Compaction restarts allowed before the scan gives up with [`SourceError::Compacted`].
pub const MAX_RESTARTS: u32 = 3;
/// Keys per keys-only listing request: large enough that etcd's per-request walk is amortised.
const LIST_CHUNK: i64 = 50_000;
/// Target size of one value range response; the key count per range adapts to it.
const TARGET_PAGE_BYTES: usize = 4 << 20;
const MIN_PAGE_KEYS: usize = 16;
pub(super) const MAX_PAGE_KEYS: usize = 4096;

impl LiveSource {
    /// Reads every key under `prefix` at one revision (`rev`, or the current one) and sends it
    /// to `tx` in pages, in key order. Returns when all pages are sent.
    pub async fn scan(
        &mut self,
        prefix: &[u8],
        rev: Option<i64>,
        tx: mpsc::Sender<Page>,
    ) -> Result<ScanStats, SourceError> {
        let end = prefix_end(prefix);
        let mut stats = ScanStats::default();
        let mut revision = rev.unwrap_or(0);
        let mut cursor = prefix.to_vec();
        let mut page_keys = 256usize.min(self.max_page_keys);
        loop {
            let listing = GetOptions::new()
                .with_range(end.clone())
                .with_keys_only()
                .with_limit(LIST_CHUNK)
                .with_revision(revision);
            let listed = match self.get("list keys", &cursor, listing).await {
                Ok(resp) => resp,
                Err(e) => {
                    revision = self.restart(e, revision, rev, &mut stats).await?;
                    continue;
                }
            };
            if revision == 0 {
                revision = listed.header().map_or(0, |h| h.revision());
                stats.revision = revision;
            } else if stats.revision == 0 {
                stats.revision = revision;
            }
            let more = listed.more();
            let keys: Vec<Vec<u8>> =
                listed.kvs().iter().map(|kv| kv.key().to_vec()).collect::<Vec<_>>();
            drop(listed);
            let Some(last) = keys.last() else { break };
            let after_last = key_after(last);
            let mut i = 0;
            let mut restarted = false;
            while i < keys.len() {
                let j = (i + page_keys).min(keys.len());
                let range_end = keys.get(j).cloned().unwrap_or_else(|| after_last.clone());
                let opts = GetOptions::new().with_range(range_end).with_revision(revision);
                let mut resp = match self.get("read values", &keys[i], opts).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        revision = self.restart(e, revision, rev, &mut stats).await?;
                        cursor = keys[i].clone();
                        restarted = true;
                        break;
                    }
                };
                let kvs: Vec<RawKv> = resp.take_kvs().into_iter().map(raw_kv).collect();
                let bytes: usize = kvs.iter().map(|kv| kv.key.len() + kv.value.len()).sum();
                stats.keys += kvs.len() as u64;
                stats.bytes += bytes as u64;
                page_keys = next_page_keys(page_keys, kvs.len(), bytes).min(self.max_page_keys);
                tx.send(Page { kvs, revision }).await.map_err(|_| SourceError::Stopped)?;
                i = j;
            }
            if restarted {
                continue;
            }
            if !more {
                break;
            }
            cursor = after_last;
        }
        Ok(stats)
    }

    /// Decides what a failed request means: a compacted pinned revision is resumed at the
    /// current revision (unless the user pinned it with `--rev`); anything else is fatal.
    async fn restart(
        &mut self,
        err: SourceError,
        revision: i64,
        requested: Option<i64>,
        stats: &mut ScanStats,
    ) -> Result<i64, SourceError> {
        if !is_out_of_range(&err) {
            return Err(err);
        }
        // etcd answers OutOfRange both for a compacted revision and for one in the future
        // (rpctypes ErrGRPCCompacted, ErrGRPCFutureRev): the current revision tells them apart,
        // never the message text.
        let resp =
            self.get("read current revision", b"\0", GetOptions::new().with_count_only()).await?;
        let to = resp.header().map_or(0, |h| h.revision());
        if revision > to {
            return Err(SourceError::FutureRevision { requested: revision, current: to });
        }
        let restarts = stats.restarts.len() as u32;
        if requested.is_some() || restarts >= MAX_RESTARTS {
            return Err(SourceError::Compacted { requested: revision, restarts });
        }
        tracing::warn!(
            compacted = revision,
            resumed_at = to,
            "pinned revision was compacted; resuming"
        );
        stats.restarts.push(Restart { from: revision, to });
        Ok(to)
    }
}

/// etcd's answer to a range at a compacted or a future revision (gRPC `OutOfRange`).
fn is_out_of_range(err: &SourceError) -> bool {
    matches!(
        err,
        SourceError::Request { source: etcd_client::Error::GRpcStatus(s), .. }
            if s.code() == tonic::Code::OutOfRange
    )
}

/// Sizes the next value range so that a response is about [`TARGET_PAGE_BYTES`].
fn next_page_keys(current: usize, got: usize, bytes: usize) -> usize {
    if got == 0 || bytes == 0 {
        return current;
    }
    let per_key = (bytes / got).max(1);
    let ideal = TARGET_PAGE_BYTES / per_key;
    // Move at most 2x per step so one odd page does not swing the size.
    ideal.clamp(current / 2, current * 2).clamp(MIN_PAGE_KEYS, MAX_PAGE_KEYS)
}

/// The smallest key after `key`.
fn key_after(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_follows_bytes() {
        assert_eq!(next_page_keys(256, 256, 256 * 1024), 512);
        assert_eq!(next_page_keys(256, 256, 256 * 1024 * 1024), 128);
        assert_eq!(next_page_keys(4096, 10, 100), MAX_PAGE_KEYS);
        assert_eq!(next_page_keys(16, 16, 16 << 20), MIN_PAGE_KEYS);
    }
}
