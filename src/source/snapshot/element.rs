//! Reads one leaf element again by its location, for pass 2 of the scan.
//!
//! Follows etcd-io/bbolt `internal/common/page.go` (element `i`'s 16-byte header is at
//! `16 + 16 * i`; `pos` is relative to that header; the value follows the key) with the same
//! checks as a full node read in `file.rs` (bbolt commit 078a4fa of page.go).

use super::SnapshotError;
use super::file::{BucketRoot, Loc, Pager, node_len};
use super::page::{At, ELEMENT_SIZE, LEAF_PAGE, LeafElem, Node, PAGE_HEADER_SIZE, PageHeader};

/// Reads single leaf elements again by location. Values are read one at a time in user-key order,
/// so neighbours rarely share a node; a node with overflow spans several pages, so instead of the
/// whole node this reads the node's first page (header and element headers) and then only the
/// element's own key and value bytes when they lie beyond it.
pub struct ElementReader<'p> {
    pager: &'p Pager,
    inline: Option<&'p [u8]>,
    inline_from: u64,
    /// The first page of node `first_pgid` (0: none yet).
    first: Vec<u8>,
    first_pgid: u64,
    span: Vec<u8>,
}

impl<'p> ElementReader<'p> {
    /// A reader over the bucket `root`.
    pub fn new(pager: &'p Pager, root: &'p BucketRoot) -> Self {
        let (inline, inline_from) = match root {
            BucketRoot::Inline { from, bytes } => (Some(bytes.as_slice()), *from),
            BucketRoot::Page { from, .. } => (None, *from),
        };
        Self { pager, inline, inline_from, first: Vec::new(), first_pgid: 0, span: Vec::new() }
    }

    /// Calls `f` with the leaf element at `loc` and the page it is on, with the same checks as a
    /// full node read: the page is inside the database, names itself, is a leaf, and the element
    /// lies inside the node.
    pub fn with<T>(
        &mut self,
        loc: Loc,
        f: impl FnOnce(At, LeafElem<'_>) -> Result<T, SnapshotError>,
    ) -> Result<T, SnapshotError> {
        let pgid = loc.pgid;
        if pgid == 0 {
            let at = self.pager.at(self.inline_from);
            let node = Node::parse(self.inline.unwrap_or_default(), at)?;
            return f(at, node.leaf(loc.idx)?);
        }
        let pager = self.pager;
        let at = pager.at(pgid);
        let corrupt = |what| SnapshotError::Corrupt { at, what };
        if pgid < 2 {
            return Err(corrupt("a tree pointer leads to a meta page"));
        }
        if pgid >= pager.pgid_end {
            return Err(pager.out_of_range(pgid, "a leaf location", pgid));
        }
        let ps = usize::try_from(pager.page_size)
            .map_err(|_| corrupt("the page size is out of range"))?;
        let base =
            pgid.checked_mul(pager.page_size).ok_or(corrupt("the page id is out of range"))?;
        if self.first_pgid != pgid {
            self.first_pgid = 0;
            self.first.clear();
            self.first.resize(ps, 0);
            pager.read_at(&mut self.first, base)?;
            let h =
                PageHeader::parse(&self.first).ok_or(corrupt("the page header is cut short"))?;
            if h.id != pgid {
                return Err(corrupt("the page header names another page"));
            }
            if h.flags != LEAF_PAGE {
                return Err(corrupt("a leaf location leads to a page that is not a leaf"));
            }
            if pgid.checked_add(u64::from(h.overflow)).is_none_or(|l| l >= pager.pgid_end) {
                return Err(corrupt("the page's overflow runs past the end of the database"));
            }
            self.first_pgid = pgid;
        }
        let h = PageHeader::parse(&self.first).ok_or(corrupt("the page header is cut short"))?;
        if loc.idx >= h.count {
            return Err(corrupt("element index out of range"));
        }
        let node_len = node_len(&h, pager.page_size)
            .ok_or(corrupt("the node is larger than 256 MiB (a damaged overflow count)"))?;
        // Element header: 16 bytes at 16 + 16 * idx, normally on the first page.
        let elem = u64::from(loc.idx)
            .checked_mul(ELEMENT_SIZE as u64)
            .and_then(|e| e.checked_add(PAGE_HEADER_SIZE as u64));
        let elem =
            elem.filter(|e| e.checked_add(ELEMENT_SIZE as u64).is_some_and(|end| end <= node_len));
        let elem = elem.ok_or(corrupt("the element headers run past the end of the page"))?;
        let mut eh = [0u8; ELEMENT_SIZE];
        match usize::try_from(elem)
            .ok()
            .and_then(|e| self.first.get(e..e.checked_add(ELEMENT_SIZE)?))
        {
            Some(b) => eh.copy_from_slice(b),
            None => pager.read_at(
                &mut eh,
                base.checked_add(elem).ok_or(corrupt("element index out of range"))?,
            )?,
        }
        let field = |o: usize| {
            eh.get(o..o.saturating_add(4))
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .unwrap_or(0)
        };
        let (flags, pos, ksize, vsize) = (field(0), field(4), field(8), field(12));
        const PAST: &str = "a leaf element's value runs past the end of the page";
        let kstart = elem.checked_add(u64::from(pos)).ok_or(corrupt(PAST))?;
        let kend = kstart.checked_add(u64::from(ksize)).ok_or(corrupt(PAST))?;
        let vend =
            kend.checked_add(u64::from(vsize)).filter(|v| *v <= node_len).ok_or(corrupt(PAST))?;
        let (ks, ke, ve) = (
            usize::try_from(kstart).map_err(|_| corrupt(PAST))?,
            usize::try_from(kend).map_err(|_| corrupt(PAST))?,
            usize::try_from(vend).map_err(|_| corrupt(PAST))?,
        );
        let (key, value) = if ve <= self.first.len() {
            (self.first.get(ks..ke), self.first.get(ke..ve))
        } else {
            self.span.clear();
            self.span.resize(ve.saturating_sub(ks), 0);
            pager.read_at(&mut self.span, base.checked_add(kstart).ok_or(corrupt(PAST))?)?;
            let klen = ke.saturating_sub(ks);
            (self.span.get(..klen), self.span.get(klen..))
        };
        let (Some(key), Some(value)) = (key, value) else { return Err(corrupt(PAST)) };
        f(at, LeafElem { flags, key, value })
    }
}
