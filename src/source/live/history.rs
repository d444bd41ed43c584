//! What etcd's history still retains: one watch replaying every event since the compaction.

use super::{LiveSource, MAX_DECODE_BYTES};
use crate::source::{RawKv, SourceError};

impl LiveSource {
    /// Every superseded value under `prefix` that etcd still retains, as of revision `until`:
    /// the `prev_kv` of every event after the compaction point (a compaction at C keeps each
    /// key's newest value at or before C, so exactly the values replaced or deleted after C
    /// remain). Costs one watch replaying all retained history. The watch covers the whole
    /// keyspace because every revision is some key's event, so seeing revision `until` proves
    /// the replay is complete (etcd 3.4 answers progress requests before a watcher catches up,
    /// so they cannot tell). Returns the revision the replay started from.
    pub async fn history(
        &mut self,
        prefix: &[u8],
        until: i64,
        f: &mut (dyn FnMut(RawKv) + Send),
    ) -> Result<i64, SourceError> {
        let timeout = self.opts.command_timeout;
        let what = "watch history";
        let req = |e| SourceError::Request { what, source: e };
        let mut watch_client =
            self.client.watch_client().max_decoding_message_size(MAX_DECODE_BYTES);
        let mut start = 1;
        // Two tries: the first learns the compaction revision if revision 1 is gone.
        for _ in 0..2 {
            if until <= start {
                // No write after the start: nothing can have been superseded since.
                return Ok(start);
            }
            let opts = etcd_client::WatchOptions::new()
                .with_from_key()
                .with_start_revision(start)
                .with_prev_key();
            let mut stream = watch_client.watch(vec![0], Some(opts)).await.map_err(req)?;
            loop {
                let msg = match tokio::time::timeout(timeout, stream.message()).await {
                    Ok(m) => m.map_err(req)?,
                    Err(_) => return Err(SourceError::CommandTimeout { what, timeout }),
                };
                let Some(resp) = msg else { break };
                if resp.compact_revision() > 0 {
                    start = resp.compact_revision();
                    break;
                }
                if resp.canceled() {
                    let reason = resp.cancel_reason().to_owned();
                    return Err(SourceError::WatchCancelled { reason });
                }
                let mut done = false;
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    if kv.mod_revision() > until {
                        return Ok(start);
                    }
                    done |= kv.mod_revision() == until;
                    if let Some(prev) = ev.prev_kv().filter(|p| p.key().starts_with(prefix)) {
                        f(RawKv {
                            key: prev.key().to_vec(),
                            value: prev.value().to_vec(),
                            create_revision: prev.create_revision(),
                            mod_revision: prev.mod_revision(),
                            version: prev.version(),
                            lease: prev.lease(),
                        });
                    }
                }
                // All events of one revision arrive in one response.
                if done {
                    return Ok(start);
                }
            }
        }
        Err(SourceError::WatchEnded)
    }
}
