//! Test-only helpers (feature `testkit`): where the golden fixtures live, and encoders that
//! build envelopes the way kube-apiserver writes them. atrest itself never encrypts or writes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// The shared golden fixtures: `$ATREST_GOLDEN_DIR`, else `../shared/fixtures/golden` beside the
/// repository (where CI puts it).
pub fn golden_dir() -> PathBuf {
    match std::env::var_os("ATREST_GOLDEN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/golden"),
    }
}
