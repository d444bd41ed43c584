//! Pages the chosen meta's tree does not reach (free, or left over from older transactions), and
//! whether they still hold given byte strings: old values linger there until a defrag.
//!
//! Follows etcd-io/bbolt `db.go` `freepages()`: free = every page in `[2, meta.pgid)` not reached
//! from the root bucket (metas and a persisted freelist page are not free). The persisted freelist
//! itself is not trusted. (bbolt commit 01037c2 of db.go.)
//!
//! Copy-on-write leaves stale *copies* of live pages behind on every commit: etcd 3.5 writes the
//! `meta` bucket's `term`/`consistent_index` right after a defrag, so the old root page (with a
//! small `key` bucket inline in it) is free again at once. A copy of a revision the `key` bucket
//! still retains exposes nothing the tree does not already hold, so a free page counts only when
//! a needle lies outside such copies: a free leaf (or inline bucket in it) is parsed, its revision
//! elements are looked up in the live `key` bucket (same revision key, same value bytes), and the
//! needles are searched with the retained copies blanked out. Pages that do not parse as a leaf
//! are searched as raw bytes.

use std::collections::HashMap;
use std::ops::{ControlFlow, Range};

use sha2::{Digest, Sha256};

use super::file::{BucketRoot, Walk};
use super::page::{At, InBucket, Kind, LEAF_PAGE, Node, PGID_NO_FREELIST, PageHeader};
use super::revision::{decode_key_value, parse_revision_key};
use super::{Snapshot, SnapshotError};

/// Free pages read per `pread`.
const CHUNK_PAGES: u64 = 256;
/// Inline buckets inside a free leaf are followed this deep (etcd nests none).
const MAX_INLINE_DEPTH: usize = 4;

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

fn any_needle(hay: &[u8], needles: &[&[u8]], starts_before: usize) -> bool {
    needles.iter().any(|n| has_needle(hay, n, starts_before))
}

/// Where `inner` (a subslice of `outer`) sits in `outer`.
fn span_in(outer: &[u8], inner: &[u8]) -> Option<Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// A revision element found in a free leaf whose value holds a needle.
struct FreeCopy {
    /// The node it was found in (index into `Pending::nodes`).
    node: usize,
    /// sha256 of the element's value (the stored `mvccpb.KeyValue`): equal bytes, not just a
    /// likely match, decide that a copy exposes nothing new.
    value_hash: [u8; 32],
}

/// Free leaves waiting for the live lookup: per node, its page count if a needle lies outside
/// its revision copies (else 0), and the copies that hold one.
#[derive(Default)]
struct Pending {
    /// Pages of each node and whether it already counts.
    nodes: Vec<(u64, bool)>,
    /// Revision key → copies of that revision found in free leaves.
    copies: HashMap<Vec<u8>, Vec<FreeCopy>>,
}

/// Revision elements of a leaf (and of inline buckets in it), as value spans within `bytes`.
fn revision_spans(
    node: &Node<'_>,
    bytes: &[u8],
    depth: usize,
    out: &mut Vec<(Vec<u8>, Range<usize>)>,
) {
    for i in 0..node.count() {
        let Ok(e) = node.leaf(i) else { continue };
        if e.is_bucket() {
            let Ok(b) = InBucket::parse(e.value, node.at) else { continue };
            if b.root != 0 || depth >= MAX_INLINE_DEPTH {
                continue;
            }
            let Ok(inline) = Node::parse(b.inline, node.at) else { continue };
            if inline.kind == Kind::Leaf {
                revision_spans(&inline, bytes, depth.saturating_add(1), out);
            }
            continue;
        }
        if parse_revision_key(e.key).is_none() || decode_key_value(e.value).is_err() {
            continue;
        }
        if let Some(span) = span_in(bytes, e.value) {
            out.push((e.key.to_vec(), span));
        }
    }
}

impl Pending {
    /// Classifies one free node (`bytes` = its pages). Returns false if it is not a leaf whose
    /// elements all parse, so that the caller searches it as raw bytes.
    fn add_leaf(&mut self, bytes: &[u8], at: At, pages: u64, needles: &[&[u8]]) -> bool {
        let Ok(node) = Node::parse(bytes, at) else { return false };
        if node.kind != Kind::Leaf || (0..node.count()).any(|i| node.leaf(i).is_err()) {
            return false;
        }
        let mut spans = Vec::new();
        revision_spans(&node, bytes, 0, &mut spans);
        let mut blanked = bytes.to_vec();
        for (_, span) in &spans {
            if let Some(b) = blanked.get_mut(span.clone()) {
                b.fill(0);
            }
        }
        let outside = any_needle(&blanked, needles, blanked.len());
        let id = self.nodes.len();
        self.nodes.push((pages, outside));
        if outside {
            return true;
        }
        for (key, span) in spans {
            let Some(value) = bytes.get(span) else { continue };
            if any_needle(value, needles, value.len()) {
                let value_hash = Sha256::digest(value).into();
                self.copies.entry(key).or_default().push(FreeCopy { node: id, value_hash });
            }
        }
        true
    }
}

impl Snapshot {
    /// Walks every bucket from the root (the freelist is not trusted), takes the complement within
    /// the meta's high-water mark, and reads those pages looking for any of `needles` (a hint that
    /// a defrag is needed), not counting stale copies of revisions the `key` bucket still retains
    /// (module docs). Returns (free pages scanned, free pages holding a needle). A match in a page
    /// that is not a leaf may run into the next page when that one is free too.
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
        let mut pending = Pending::default();
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
                    at: self.pager.at(pgid),
                    what: "a run of free pages is too long",
                });
            };
            buf.clear();
            buf.resize(len, 0);
            let offset = pgid.saturating_mul(self.pager.page_size);
            self.pager.read_at(&mut buf, offset)?;
            let mut i = 0u64;
            while i < pages {
                let start =
                    usize::try_from(i).ok().and_then(|i| i.checked_mul(ps)).unwrap_or(usize::MAX);
                let stop = start.saturating_add(ps);
                let window_end = stop.saturating_add(overlap).min(buf.len());
                let Some(window) = buf.get(start..window_end) else { break };
                if !any_needle(window, &needles, ps.min(window.len())) {
                    i = i.saturating_add(1);
                    continue;
                }
                // A leaf that starts here and ends inside this run is classified as a whole.
                let this = pgid.saturating_add(i);
                let node_pages = PageHeader::parse(window)
                    .filter(|h| h.flags == LEAF_PAGE && h.id == this)
                    .map(|h| u64::from(h.overflow).saturating_add(1))
                    .filter(|n| i.saturating_add(*n) <= pages);
                let node_bytes = node_pages
                    .and_then(|n| usize::try_from(n).ok())
                    .and_then(|n| n.checked_mul(ps))
                    .and_then(|n| buf.get(start..start.saturating_add(n)));
                match (node_pages, node_bytes) {
                    (Some(n), Some(bytes))
                        if pending.add_leaf(bytes, self.pager.at(this), n, &needles) =>
                    {
                        i = i.saturating_add(n);
                    }
                    _ => {
                        hits = hits.saturating_add(1);
                        i = i.saturating_add(1);
                    }
                }
            }
            pgid = run_end;
        }
        Ok((free, hits.saturating_add(self.resolve_copies(pending)?)))
    }

    /// Pages of the pending free leaves that still count once the `key` bucket is consulted: a
    /// copy counts unless the bucket retains that revision with the same value bytes.
    fn resolve_copies(&self, pending: Pending) -> Result<u64, SnapshotError> {
        let Pending { mut nodes, mut copies } = pending;
        if !copies.is_empty() {
            Walk::new(&self.pager).leaves(&self.key_bucket, &mut |_, _, e| {
                if let Some(found) = copies.get_mut(e.key) {
                    let live: [u8; 32] = Sha256::digest(e.value).into();
                    found.retain(|c| c.value_hash != live);
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        for copy in copies.values().flatten() {
            if let Some(node) = nodes.get_mut(copy.node) {
                node.1 = true;
            }
        }
        Ok(nodes.iter().filter(|(_, counts)| *counts).map(|(pages, _)| *pages).sum())
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
