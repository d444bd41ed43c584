//! `etcdctl snapshot save`'s sha256 trailer: whether the file has one, whether it matches, and
//! what a damaged file is reported as.

use std::fs::File;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::page::MIN_PAGE_SIZE;
use super::{Snapshot, SnapshotError};

/// Length of the sha256 trailer `etcdctl snapshot save` appends.
pub(super) const TRAILER_LEN: u64 = 32;

/// A sha256 hash; displayed as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sha256Hash(pub [u8; 32]);

impl std::fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sha256Hash({self})")
    }
}

/// What to do when the sha256 trailer does not match ([`Snapshot::check_integrity`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashCheck {
    /// A mismatch is [`SnapshotError::HashMismatch`] (as `etcdutl snapshot restore`).
    #[default]
    Enforce,
    /// A mismatch is reported ([`Integrity::Mismatch`]) and the file is read anyway
    /// (`etcdutl snapshot restore --skip-hash-check`).
    Skip,
}

/// Whether the file carries `etcdctl snapshot save`'s sha256 trailer, and whether it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// The trailer matches the database bytes.
    Ok,
    /// The trailer does not match: the file was altered or damaged after it was saved.
    Mismatch {
        /// The trailer.
        expected: Sha256Hash,
        /// The hash of the database bytes.
        actual: Sha256Hash,
    },
    /// No trailer: a member's `snap/db` (or a trailer-stripped copy).
    Absent,
    /// There is a trailer, not checked yet ([`Snapshot::open_unverified`]).
    Unverified,
}

impl Integrity {
    /// For the report's source block.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "sha256 ok",
            Self::Mismatch { .. } => "sha256 mismatch",
            Self::Absent => "absent (member db)",
            Self::Unverified => "sha256 not verified",
        }
    }

    /// What a report must tell its reader about a file read with this integrity: a mismatch
    /// that was read anyway ([`HashCheck::Skip`]), or a file with no trailer to verify.
    pub fn warning(&self) -> Option<String> {
        match self {
            Self::Ok => None,
            Self::Mismatch { expected, actual } => Some(format!(
                "sha256 mismatch (trailer {expected}, data {actual}): the file was damaged or \
                 altered after it was saved and was read anyway without the hash check; \
                 records may be wrong or missing"
            )),
            Self::Absent => Some(
                "no sha256 trailer (a member's db, or a copy without it): the file's integrity \
                 cannot be verified; damage inside it may go unnoticed"
                    .to_owned(),
            ),
            Self::Unverified => Some("the sha256 trailer was not verified".to_owned()),
        }
    }
}

/// sha256 of the first `db_len` bytes against the 32 bytes after them, streaming.
fn check_trailer(file: &File, path: &Path, db_len: u64) -> Result<Integrity, SnapshotError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    while offset < db_len {
        let n = usize::try_from(db_len.saturating_sub(offset)).unwrap_or(usize::MAX).min(buf.len());
        let chunk = buf.get_mut(..n).unwrap_or_default();
        std::os::unix::fs::FileExt::read_exact_at(file, chunk, offset)
            .map_err(|source| SnapshotError::Read { path: path.to_owned(), offset, source })?;
        hasher.update(&*chunk);
        offset = offset.saturating_add(n as u64);
    }
    let mut trailer = [0u8; 32];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut trailer, db_len)
        .map_err(|source| SnapshotError::Read { path: path.to_owned(), offset: db_len, source })?;
    let actual = Sha256Hash(hasher.finalize().into());
    Ok(if actual.0 == trailer {
        Integrity::Ok
    } else {
        Integrity::Mismatch { expected: Sha256Hash(trailer), actual }
    })
}

/// What to report when [`Snapshot::open_unverified`] failed with `error`: a file whose layout
/// is damaged and whose sha256 trailer does not match either is
/// [`SnapshotError::HashMismatch`] (the damage is the cause; `error` is kept as its source),
/// unless `check` skips the hash. Any other error, or a file without a trailer-shaped length (a
/// bbolt database is whole pages of at least 1 KiB; `etcdctl snapshot save` appends 32
/// bytes), is returned as it is.
pub fn diagnose(path: &Path, error: SnapshotError, check: HashCheck) -> SnapshotError {
    let damaged = matches!(
        error,
        SnapshotError::Corrupt { .. }
            | SnapshotError::PageOutOfRange { .. }
            | SnapshotError::KeyValue { .. }
            | SnapshotError::NotEtcd
            | SnapshotError::MetaChecksum
            | SnapshotError::Truncated { .. }
    );
    if !damaged || check == HashCheck::Skip {
        return error;
    }
    let Ok(file) = File::open(path) else { return error };
    let Ok(len) = file.metadata().map(|m| m.len()) else { return error };
    let min = u64::from(MIN_PAGE_SIZE);
    let db_len = match len.checked_sub(TRAILER_LEN) {
        Some(d) if d >= min && d.checked_rem(min) == Some(0) => d,
        _ => return error,
    };
    match check_trailer(&file, path, db_len) {
        Ok(Integrity::Mismatch { expected, actual }) => SnapshotError::HashMismatch {
            path: path.to_owned(),
            expected,
            actual,
            also: Some(Box::new(error)),
        },
        _ => error,
    }
}

impl Snapshot {
    /// [`Snapshot::verify_integrity`], with a mismatch as [`SnapshotError::HashMismatch`]
    /// unless `check` is [`HashCheck::Skip`].
    pub fn check_integrity(&self, check: HashCheck) -> Result<Integrity, SnapshotError> {
        match self.verify_integrity()? {
            Integrity::Mismatch { expected, actual } if check == HashCheck::Enforce => {
                Err(SnapshotError::HashMismatch {
                    path: self.pager.path.clone(),
                    expected,
                    actual,
                    also: None,
                })
            }
            known => Ok(known),
        }
    }

    /// Checks the sha256 trailer (about 1.5 GB/s on one core), so that a caller can do it on
    /// another thread while the scan runs, and reports what it found (a mismatch is not an
    /// error here). [`Integrity::Absent`] when there is none.
    pub fn verify_integrity(&self) -> Result<Integrity, SnapshotError> {
        match self.info.integrity {
            Integrity::Unverified => {
                let db_len = self.info.file_size.saturating_sub(TRAILER_LEN);
                check_trailer(&self.pager.file, &self.pager.path, db_len)
            }
            known => Ok(known),
        }
    }
}
