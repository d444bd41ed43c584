//! Pages the chosen meta's tree does not reach (free, or left over from older transactions), and
//! whether they still hold given byte strings: old values linger there until a defrag.
//!
//! Follows etcd-io/bbolt `db.go` `freepages()`: free = every page in `[2, meta.pgid)` not reached
//! from the root bucket (metas and a persisted freelist page are not free). The persisted freelist
//! itself is not trusted. (bbolt commit 01037c2 of db.go.)

use super::file::{BucketRoot, Walk};
use super::page::PGID_NO_FREELIST;
use super::{Snapshot, SnapshotError};

/// Free pages read per `pread`.
const CHUNK_PAGES: u64 = 256;

/// Whether `needle` starts at some offset in `0..starts_before` of `hay`.
fn has_needle(hay: &[u8], needle: &[u8], starts_before: usize) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return false };
    let mut from = 0usize;
    while from < starts_before {
        let Some(found) =
            hay.get(from..starts_before).and_then(|h| h.iter().position(|&b| b == first))
        else {
            return false;
        };
        let at = from.saturating_add(found);
        let tail_start = at.saturating_add(1);
        let tail_end = tail_start.saturating_add(rest.len());
        if hay.get(tail_start..tail_end) == Some(rest) {
            return true;
        }
        from = tail_start;
    }
    false
}

impl Snapshot {
    /// Walks every bucket from the root (the freelist is not trusted), takes the complement within
    /// the meta's high-water mark, and reads those pages looking for any of `needles` (a hint that
    /// a defrag is needed). Returns (free pages scanned, free pages containing a needle). A match
    /// may run into the next page when that one is free too.
    pub fn scan_free_pages(&self, needles: &[&[u8]]) -> Result<(u64, u64), SnapshotError> {
        let mut walk = Walk::new(&self.pager);
        walk.mark_all(&BucketRoot::Page { pgid: self.meta.root, from: 0 }, 0)?;
        let mut seen = walk.into_seen();
        let end = self.pager.pgid_end;
        if self.meta.freelist != PGID_NO_FREELIST && (2..end).contains(&self.meta.freelist) {
            let h = self.pager.read_header(self.meta.freelist)?;
            let last = self.meta.freelist.saturating_add(u64::from(h.overflow)).min(end);
            for p in self.meta.freelist..=last {
                seen.insert(p);
            }
        }
        let needles: Vec<&[u8]> = needles.iter().copied().filter(|n| !n.is_empty()).collect();
        let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(1).saturating_sub(1);
        let ps = usize::try_from(self.pager.page_size).unwrap_or(usize::MAX);
        let (mut free, mut hits) = (0u64, 0u64);
        let mut buf = Vec::new();
        let mut pgid = 2u64;
        while pgid < end {
            if seen.contains(pgid) {
                pgid = pgid.saturating_add(1);
                continue;
            }
            // A run of free pages [pgid, run_end), read CHUNK_PAGES at a time.
            let mut run_end = pgid;
            while run_end < end
                && !seen.contains(run_end)
                && run_end.saturating_sub(pgid) < CHUNK_PAGES
            {
                run_end = run_end.saturating_add(1);
            }
            let pages = run_end.saturating_sub(pgid);
            free = free.saturating_add(pages);
            if needles.is_empty() {
                pgid = run_end;
                continue;
            }
            // Read the run plus a little of the next page, if it is free, so that a needle that
            // starts near the end of the run is still found.
            let tail = if run_end < end && !seen.contains(run_end) { overlap.min(ps) } else { 0 };
            let len = usize::try_from(pages)
                .ok()
                .and_then(|p| p.checked_mul(ps))
                .and_then(|n| n.checked_add(tail));
            let Some(len) = len else {
                return Err(SnapshotError::Corrupt {
                    page: pgid,
                    what: "a run of free pages is too long",
                });
            };
            buf.clear();
            buf.resize(len, 0);
            let offset = pgid.saturating_mul(self.pager.page_size);
            self.pager.read_at(&mut buf, offset)?;
            for i in 0..pages {
                let start =
                    usize::try_from(i).ok().and_then(|i| i.checked_mul(ps)).unwrap_or(usize::MAX);
                let stop = start.saturating_add(ps);
                let window_end = stop.saturating_add(overlap).min(buf.len());
                let Some(window) = buf.get(start..window_end) else { break };
                if needles.iter().any(|n| has_needle(window, n, ps.min(window.len()))) {
                    hits = hits.saturating_add(1);
                }
            }
            pgid = run_end;
        }
        Ok((free, hits))
    }
}

#[cfg(test)]
mod tests {
    use super::has_needle;

    #[test]
    fn needle_search() {
        assert!(has_needle(b"abcdef", b"cd", 6));
        assert!(has_needle(b"abcdef", b"ef", 5));
        assert!(!has_needle(b"abcdef", b"ef", 4));
        assert!(!has_needle(b"abcdef", b"eg", 6));
        assert!(has_needle(b"aab", b"ab", 3));
        assert!(!has_needle(b"abc", b"", 3));
        assert!(!has_needle(b"", b"a", 0));
    }
}
