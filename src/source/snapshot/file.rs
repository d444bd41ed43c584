//! Page access over `pread` and the walks over bbolt B+trees: in-order leaves of one bucket, the
//! rightmost leaf, and every page reachable from the root (for the free-page complement).
//!
//! Follows etcd-io/bbolt `db.go` (`page(id)`: page `id` is at `id * pageSize`; `freepages()`:
//! free = pages in `[2, meta.pgid)` not reachable from the root), `cursor.go` / `bucket.go`
//! (`forEachPage`: a node spans `overflow + 1` pages; inline buckets carry their page in the
//! value) and `internal/common/page.go` (`FastCheck`: the header id must be the page read), as of
//! bbolt commits 01037c2 (db.go) and 01d412e (bucket.go).
//! Guards the walk against cycles (a page may be reached once) and depth ([`MAX_DEPTH`]).

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::SnapshotError;
use super::page::{At, InBucket, Kind, LeafElem, Node, PAGE_HEADER_SIZE, PageHeader};

/// Deepest tree (branch levels plus nested buckets) we follow; bbolt trees are ~log(n) deep.
pub const MAX_DEPTH: usize = 64;
/// Largest node (page plus overflow pages) we read into memory. A corrupt overflow count could
/// otherwise make us allocate up to the file's size; etcd values are at most a few MiB
/// (`--max-request-bytes`, 1.5 MiB by default).
pub const MAX_NODE_BYTES: u64 = 256 << 20;

/// Where a bucket's tree starts.
#[derive(Clone, Debug)]
pub enum BucketRoot {
    /// A root page.
    Page {
        /// The root page.
        pgid: u64,
        /// The page holding the bucket header (for error messages).
        from: u64,
    },
    /// An inline bucket: its page bytes (header + elements), copied out of the parent's value.
    Inline {
        /// The page holding the parent leaf element.
        from: u64,
        /// The inline page.
        bytes: Vec<u8>,
    },
}

impl BucketRoot {
    /// The root described by a bucket-flagged leaf value found on page `from`.
    pub fn from_value(value: &[u8], at: At) -> Result<Self, SnapshotError> {
        let b = InBucket::parse(value, at)?;
        let from = at.page;
        Ok(if b.root == 0 {
            Self::Inline { from, bytes: b.inline.to_vec() }
        } else {
            Self::Page { pgid: b.root, from }
        })
    }
}

/// A leaf element's location, to read it again later: `(page, index)`; page 0 means the bucket's
/// inline page (page 0 is a meta page and never a tree node).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// The leaf page, or 0 for the inline page.
    pub pgid: u64,
    /// The element index.
    pub idx: u16,
}

/// A set of page ids, one bit each.
pub struct PageSet {
    bits: Vec<u64>,
}

impl PageSet {
    /// An empty set for pages `0..n`.
    pub fn new(n: u64) -> Self {
        let words = usize::try_from(n.div_ceil(64)).unwrap_or(usize::MAX);
        Self { bits: vec![0; words] }
    }

    /// Inserts `pgid`; false if it was already there (or out of range).
    pub fn insert(&mut self, pgid: u64) -> bool {
        let (word, bit) = (pgid / 64, pgid % 64);
        let Some(w) = usize::try_from(word).ok().and_then(|i| self.bits.get_mut(i)) else {
            return false;
        };
        let mask = 1u64.checked_shl(u32::try_from(bit).unwrap_or(0)).unwrap_or(0);
        let fresh = *w & mask == 0;
        *w |= mask;
        fresh
    }

    /// Whether `pgid` is in the set.
    pub fn contains(&self, pgid: u64) -> bool {
        let (word, bit) = (pgid / 64, pgid % 64);
        let mask = 1u64.checked_shl(u32::try_from(bit).unwrap_or(0)).unwrap_or(0);
        usize::try_from(word).ok().and_then(|i| self.bits.get(i)).is_some_and(|w| w & mask != 0)
    }
}

/// Bytes of the node `header` starts: `(overflow + 1) * page_size`, if at most
/// [`MAX_NODE_BYTES`].
pub fn node_len(header: &PageHeader, page_size: u64) -> Option<u64> {
    u64::from(header.overflow)
        .checked_add(1)
        .and_then(|n| n.checked_mul(page_size))
        .filter(|n| *n <= MAX_NODE_BYTES)
}

/// The open file, its page size and the bounds every page read is checked against.
pub struct Pager {
    /// Read-only handle; never locked.
    pub file: File,
    /// For error messages.
    pub path: PathBuf,
    /// The database's page size.
    pub page_size: u64,
    /// The chosen meta's high-water mark: valid page ids are below it (`open` checked that
    /// `pgid_end * page_size` bytes of database are present, trailer excluded).
    pub pgid_end: u64,
}

impl Pager {
    /// Page `page` and its offset, for errors.
    pub fn at(&self, page: u64) -> At {
        At::new(page, self.page_size)
    }

    /// `pread` of exactly `buf.len()` bytes at `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), SnapshotError> {
        self.file.read_exact_at(buf, offset).map_err(|source| SnapshotError::Read {
            path: self.path.clone(),
            offset,
            source,
        })
    }

    pub fn out_of_range(&self, from: u64, what: &'static str, target: u64) -> SnapshotError {
        SnapshotError::PageOutOfRange { at: self.at(from), what, target, count: self.pgid_end }
    }

    /// Reads the node at `pgid` (its page and overflow pages) into `buf`, after checking that it
    /// lies inside the database, that its header names `pgid`, and that it is at most
    /// [`MAX_NODE_BYTES`]. The page type is checked by [`Node::parse`]. `from`/`what` name the
    /// pointer that led here, for errors.
    pub fn read_node(
        &self,
        pgid: u64,
        from: u64,
        what: &'static str,
        buf: &mut Vec<u8>,
    ) -> Result<PageHeader, SnapshotError> {
        if pgid < 2 {
            return Err(SnapshotError::Corrupt {
                at: self.at(from),
                what: "a tree pointer leads to a meta page",
            });
        }
        if pgid >= self.pgid_end {
            return Err(self.out_of_range(from, what, pgid));
        }
        let ps =
            usize::try_from(self.page_size).map_err(|_| self.out_of_range(from, what, pgid))?;
        let offset =
            pgid.checked_mul(self.page_size).ok_or_else(|| self.out_of_range(from, what, pgid))?;
        buf.clear();
        buf.resize(ps, 0);
        self.read_at(buf, offset)?;
        let header = PageHeader::parse(buf).ok_or(SnapshotError::Corrupt {
            at: self.at(pgid),
            what: "the page header is cut short",
        })?;
        if header.id != pgid {
            return Err(SnapshotError::Corrupt {
                at: self.at(pgid),
                what: "the page header names another page",
            });
        }
        if header.overflow > 0 {
            let last = pgid.checked_add(u64::from(header.overflow));
            if last.is_none_or(|l| l >= self.pgid_end) {
                return Err(SnapshotError::Corrupt {
                    at: self.at(pgid),
                    what: "the page's overflow runs past the end of the database",
                });
            }
            let total = node_len(&header, self.page_size)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(SnapshotError::Corrupt {
                    at: self.at(pgid),
                    what: "the node is larger than 256 MiB (a damaged overflow count)",
                })?;
            buf.resize(total, 0);
            let rest = buf.get_mut(ps..).unwrap_or_default();
            let rest_offset = offset
                .checked_add(self.page_size)
                .ok_or_else(|| self.out_of_range(from, what, pgid))?;
            self.read_at(rest, rest_offset)?;
        }
        Ok(header)
    }

    /// Reads just the page header at `pgid` (for the freelist page's overflow).
    pub fn read_header(&self, pgid: u64) -> Result<PageHeader, SnapshotError> {
        let mut b = [0u8; PAGE_HEADER_SIZE];
        let offset = pgid.checked_mul(self.page_size).ok_or(SnapshotError::Corrupt {
            at: self.at(pgid),
            what: "the page id is out of range",
        })?;
        self.read_at(&mut b, offset)?;
        PageHeader::parse(&b).ok_or(SnapshotError::Corrupt {
            at: self.at(pgid),
            what: "the page header is cut short",
        })
    }
}

/// What a leaf visitor sees: where the element is, and the element.
pub type LeafVisitor<'f> =
    dyn FnMut(Loc, At, LeafElem<'_>) -> Result<ControlFlow<()>, SnapshotError> + 'f;

/// A walk over one or more trees: the reached-page guard and per-depth buffers.
pub struct Walk<'p> {
    pager: &'p Pager,
    seen: PageSet,
    bufs: Vec<Vec<u8>>,
}

impl<'p> Walk<'p> {
    /// A fresh walk: no page reached yet.
    pub fn new(pager: &'p Pager) -> Self {
        Self { pager, seen: PageSet::new(pager.pgid_end), bufs: Vec::new() }
    }

    /// The pages reached so far (each node's page and its overflow pages).
    pub fn into_seen(self) -> PageSet {
        self.seen
    }

    /// Visits every leaf element of the bucket in key order; `f` gets the element's location, the
    /// page it is on (for errors) and the element. Stops when `f` breaks.
    pub fn leaves(
        &mut self,
        root: &BucketRoot,
        f: &mut LeafVisitor<'_>,
    ) -> Result<(), SnapshotError> {
        let _stopped_early = match root {
            BucketRoot::Page { pgid, from } => self.node(*pgid, *from, "a bucket header", 0, f)?,
            BucketRoot::Inline { from, bytes } => {
                let at = self.pager.at(*from);
                let node = Node::parse(bytes, at)?;
                if node.kind != Kind::Leaf {
                    return Err(SnapshotError::Corrupt {
                        at: self.pager.at(*from),
                        what: "an inline bucket is not a leaf",
                    });
                }
                node.for_each(
                    |idx, e| f(Loc { pgid: 0, idx }, at, e),
                    |_, _| Ok(ControlFlow::Continue(())),
                )?
            }
        };
        Ok(())
    }

    fn node(
        &mut self,
        pgid: u64,
        from: u64,
        what: &'static str,
        depth: usize,
        f: &mut LeafVisitor<'_>,
    ) -> Result<ControlFlow<()>, SnapshotError> {
        if depth >= MAX_DEPTH {
            return Err(SnapshotError::Corrupt {
                at: self.pager.at(from),
                what: "the tree is nested deeper than 64 levels",
            });
        }
        while self.bufs.len() <= depth {
            self.bufs.push(Vec::new());
        }
        let mut buf = self.bufs.get_mut(depth).map(std::mem::take).unwrap_or_default();
        let header = self.pager.read_node(pgid, from, what, &mut buf)?;
        for p in 0..=u64::from(header.overflow) {
            // `read_node` checked pgid + overflow < pgid_end, so this cannot overflow.
            let id = pgid.saturating_add(p);
            if !self.seen.insert(id) {
                return Err(SnapshotError::Corrupt {
                    at: self.pager.at(from),
                    what: "a tree pointer leads to a page reached before (a cycle or a shared page)",
                });
            }
        }
        let at = self.pager.at(pgid);
        let node = Node::parse(&buf, at)?;
        let next = depth.saturating_add(1);
        let flow = match node.kind {
            Kind::Leaf => node.for_each(
                |idx, e| f(Loc { pgid, idx }, at, e),
                |_, _| Ok(ControlFlow::Continue(())),
            )?,
            Kind::Branch => node.for_each(
                |_, _| Ok(ControlFlow::Continue(())),
                |_, e| self.node(e.pgid, pgid, "a branch element", next, f),
            )?,
        };
        if let Some(slot) = self.bufs.get_mut(depth) {
            *slot = buf;
        }
        Ok(flow)
    }

    /// Marks every page reachable from `root`, following nested buckets, to any depth up to
    /// [`MAX_DEPTH`] in total.
    pub fn mark_all(&mut self, root: &BucketRoot, depth: usize) -> Result<(), SnapshotError> {
        if depth >= MAX_DEPTH {
            return Err(SnapshotError::Corrupt {
                at: self.pager.at(match root {
                    BucketRoot::Page { from, .. } | BucketRoot::Inline { from, .. } => *from,
                }),
                what: "buckets are nested deeper than 64 levels",
            });
        }
        let mut nested: Vec<BucketRoot> = Vec::new();
        let mut collect = |_: Loc, at: At, e: LeafElem<'_>| {
            if e.is_bucket() {
                nested.push(BucketRoot::from_value(e.value, at)?);
            }
            Ok(ControlFlow::Continue(()))
        };
        self.leaves(root, &mut collect)?;
        let next = depth.saturating_add(1);
        for b in &nested {
            self.mark_all(b, next)?;
        }
        Ok(())
    }

    /// The last leaf element of the bucket (following the last branch element down), or `None`
    /// if the bucket is empty. Calls `f` with it.
    pub fn last<T>(
        &mut self,
        root: &BucketRoot,
        f: impl FnOnce(At, LeafElem<'_>) -> Result<T, SnapshotError>,
    ) -> Result<Option<T>, SnapshotError> {
        let (mut pgid, mut from, mut what) = match root {
            BucketRoot::Inline { from, bytes } => {
                let at = self.pager.at(*from);
                let node = Node::parse(bytes, at)?;
                let Some(i) = node.count().checked_sub(1) else { return Ok(None) };
                return f(at, node.leaf(i)?).map(Some);
            }
            BucketRoot::Page { pgid, from } => (*pgid, *from, "a bucket header"),
        };
        let mut buf = Vec::new();
        for depth in 0..MAX_DEPTH {
            self.pager.read_node(pgid, from, what, &mut buf)?;
            let node = Node::parse(&buf, self.pager.at(pgid))?;
            let Some(i) = node.count().checked_sub(1) else {
                if depth == 0 {
                    return Ok(None);
                }
                return Err(SnapshotError::Corrupt {
                    at: self.pager.at(pgid),
                    what: "a leaf page below a branch is empty",
                });
            };
            match node.kind {
                Kind::Leaf => return f(self.pager.at(pgid), node.leaf(i)?).map(Some),
                Kind::Branch => {
                    (from, pgid, what) = (pgid, node.branch(i)?.pgid, "a branch element")
                }
            }
        }
        Err(SnapshotError::Corrupt {
            at: self.pager.at(from),
            what: "the tree is nested deeper than 64 levels",
        })
    }
}
