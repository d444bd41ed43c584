//! The values etcd's history still holds in the file: every value of a key older than the key's
//! newest revision at or before a given revision (including the last value before a delete).

use std::collections::HashMap;
use std::ops::ControlFlow;

use super::{Snapshot, SnapshotError};
use crate::source::RawKv;

impl Snapshot {
    /// Streams to `f` every superseded value of a key under `prefix` at `rev`. Two passes over
    /// the revisions; the map holds one revision number per key, so memory follows the number
    /// of keys, not of revisions.
    pub fn superseded(
        &self,
        prefix: &[u8],
        rev: i64,
        f: &mut dyn FnMut(&RawKv),
    ) -> Result<(), SnapshotError> {
        let mut newest: HashMap<Vec<u8>, i64> = HashMap::new();
        self.for_each_revision(&mut |e| {
            if e.main > rev {
                return ControlFlow::Break(());
            }
            if e.kv.key.starts_with(prefix) {
                newest.insert(e.kv.key, e.main);
            }
            ControlFlow::Continue(())
        })?;
        self.for_each_revision(&mut |e| {
            if e.main > rev {
                return ControlFlow::Break(());
            }
            if !e.tombstone && newest.get(&e.kv.key).is_some_and(|&n| e.main < n) {
                f(&e.kv);
            }
            ControlFlow::Continue(())
        })
    }
}
