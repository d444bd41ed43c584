//! Offline source: an `etcdctl snapshot save` file or a member's `snap/db` (in progress).

/// Why a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Placeholder until the reader lands.
    #[error("snapshot reading is not implemented yet")]
    NotImplemented,
}
