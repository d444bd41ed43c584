//! Snapshot reader tests (in progress).
