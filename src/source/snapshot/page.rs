//! bbolt on-disk layouts, parsed from untrusted bytes without panics: the page header, the meta
//! page, branch and leaf elements, and the bucket header.
//!
//! Follows etcd-io/bbolt `internal/common/page.go` (page header, element structs, flags),
//! `internal/common/meta.go` (meta fields, `Validate`, `Sum64` = FNV-1a-64 over the fields before
//! the checksum), `internal/common/types.go` (`Magic`, `Version`, `PgidNoFreelist`) and `bucket.go`
//! (`openBucket`: an inline bucket's page starts right after the 16-byte `InBucket` header), as of
//! bbolt commit 078a4fa (page.go) / 62ff9d7 (meta.go). All integers are little-endian.

use std::ops::ControlFlow;

use super::SnapshotError;
use crate::reader::Reader;

/// `Page{id u64, flags u16, count u16, overflow u32}`.
pub const PAGE_HEADER_SIZE: usize = 16;
/// `branchPageElement{pos u32, ksize u32, pgid u64}` and `leafPageElement{flags, pos, ksize, vsize
/// u32}` are both 16 bytes.
pub const ELEMENT_SIZE: usize = 16;
/// `Meta` is 64 bytes; its checksum covers the first 56.
pub const META_SIZE: usize = 64;
const META_CHECKSUMMED: usize = 56;
/// `InBucket{root pgid u64, sequence u64}`.
pub const BUCKET_HEADER_SIZE: usize = 16;

/// bbolt's magic number (`common.Magic`).
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only data file format version (`common.Version`).
pub const VERSION: u32 = 2;
/// `meta.freelist` when the freelist is not persisted (etcd's NoFreelistSync).
pub const PGID_NO_FREELIST: u64 = u64::MAX;

/// Page flags: exactly one is set on a valid page (`IsValidPage`).
pub const BRANCH_PAGE: u16 = 0x01;
/// Leaf page flag.
pub const LEAF_PAGE: u16 = 0x02;
/// Meta page flag.
pub const META_PAGE: u16 = 0x04;
/// Freelist page flag.
pub const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket (`BucketLeafFlag`).
pub const BUCKET_LEAF_FLAG: u32 = 0x01;

/// Smallest and largest page size we accept (bbolt probes 1 KiB … 16 MiB for the second meta).
pub const MIN_PAGE_SIZE: u32 = 1024;
/// See [`MIN_PAGE_SIZE`].
pub const MAX_PAGE_SIZE: u32 = 1 << 24;

/// A reader at the 16-byte header of element `i` (the elements follow the page header).
fn element(bytes: &[u8], i: u16) -> Option<Reader<'_>> {
    let off = usize::from(i).checked_mul(ELEMENT_SIZE)?.checked_add(PAGE_HEADER_SIZE)?;
    let mut r = Reader::new(bytes);
    r.skip(off).ok()?;
    Some(r)
}

/// FNV-1a 64-bit, as Go's `hash/fnv.New64a`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// A page, and where it starts in the file (`page * page_size`): what errors name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The page id.
    pub page: u64,
    /// Its byte offset in the file.
    pub offset: u64,
}

impl At {
    /// Page `page` of a database with pages of `page_size` bytes.
    pub fn new(page: u64, page_size: u64) -> Self {
        Self { page, offset: page.saturating_mul(page_size) }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (file offset {})", self.page, self.offset)
    }
}

/// The 16-byte header that starts every page (and every inline bucket's page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHeader {
    /// The page's own id (0 in inline pages).
    pub id: u64,
    /// One of the `*_PAGE` flags.
    pub flags: u16,
    /// Number of elements.
    pub count: u16,
    /// Extra pages this node spans beyond the first.
    pub overflow: u32,
}

impl PageHeader {
    /// Reads the header at the start of `b`; `None` if `b` is shorter than 16 bytes.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let mut r = Reader::new(b);
        Some(Self {
            id: r.u64_le().ok()?,
            flags: r.u16_le().ok()?,
            count: r.u16_le().ok()?,
            overflow: r.u32_le().ok()?,
        })
    }
}

/// Why a meta page is not usable (bbolt `Meta.Validate`, in its order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaCheck {
    /// Magic, version and checksum all match.
    Valid,
    /// Not bbolt's magic number.
    BadMagic,
    /// bbolt, but not format version 2.
    BadVersion,
    /// The FNV-1a checksum does not match: a torn or damaged meta write.
    BadChecksum,
}

/// A meta page's fields (`common.Meta`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Must be [`MAGIC`].
    pub magic: u32,
    /// Must be [`VERSION`].
    pub version: u32,
    /// The database's page size.
    pub page_size: u32,
    /// Unused by bbolt.
    pub flags: u32,
    /// Root bucket's root page.
    pub root: u64,
    /// Root bucket's sequence.
    pub sequence: u64,
    /// Freelist page, or [`PGID_NO_FREELIST`].
    pub freelist: u64,
    /// High-water mark: the number of pages in use, metas included.
    pub pgid: u64,
    /// Transaction id of the commit that wrote this meta.
    pub txid: u64,
    /// Stored checksum.
    pub checksum: u64,
    /// Checksum computed over the first 56 bytes.
    pub computed: u64,
}

impl Meta {
    /// Reads a meta from `b`, which starts at the meta (page offset 16); `None` if too short.
    pub fn parse(b: &[u8]) -> Option<Self> {
        let summed = Reader::new(b).take(META_CHECKSUMMED).ok()?;
        let mut r = Reader::new(b);
        Some(Self {
            magic: r.u32_le().ok()?,
            version: r.u32_le().ok()?,
            page_size: r.u32_le().ok()?,
            flags: r.u32_le().ok()?,
            root: r.u64_le().ok()?,
            sequence: r.u64_le().ok()?,
            freelist: r.u64_le().ok()?,
            pgid: r.u64_le().ok()?,
            txid: r.u64_le().ok()?,
            checksum: r.u64_le().ok()?,
            computed: fnv1a64(summed),
        })
    }

    /// bbolt's `Validate`: magic, then version, then checksum.
    pub fn check(&self) -> MetaCheck {
        if self.magic != MAGIC {
            MetaCheck::BadMagic
        } else if self.version != VERSION {
            MetaCheck::BadVersion
        } else if self.checksum != self.computed {
            MetaCheck::BadChecksum
        } else {
            MetaCheck::Valid
        }
    }
}

/// The kind of a tree node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Keys and child page ids.
    Branch,
    /// Keys and values (or nested buckets).
    Leaf,
}

/// A branch element: the first key of the child and the child's page id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchElem<'a> {
    /// The child's first key.
    pub key: &'a [u8],
    /// The child page.
    pub pgid: u64,
}

/// A leaf element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafElem<'a> {
    /// [`BUCKET_LEAF_FLAG`] for a nested bucket.
    pub flags: u32,
    /// The key.
    pub key: &'a [u8],
    /// The value (an `InBucket` header plus maybe an inline page for a nested bucket).
    pub value: &'a [u8],
}

impl LeafElem<'_> {
    /// Whether the value is a nested bucket.
    pub fn is_bucket(&self) -> bool {
        self.flags & BUCKET_LEAF_FLAG != 0
    }
}

/// A branch or leaf node over its bytes (the page plus its overflow pages, or an inline page).
/// The header and the element array are checked on [`Node::parse`]; each element's key and value
/// bounds are checked when it is read.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// The page this node is on, for error messages (for an inline page: the page holding it).
    pub at: At,
    /// The header.
    pub header: PageHeader,
    /// Branch or leaf.
    pub kind: Kind,
    bytes: &'a [u8],
}

impl<'a> Node<'a> {
    /// Checks the header flags and that `count` elements fit in `bytes`.
    pub fn parse(bytes: &'a [u8], at: At) -> Result<Self, SnapshotError> {
        let corrupt = |what| SnapshotError::Corrupt { at, what };
        let header = PageHeader::parse(bytes).ok_or(corrupt("the page header is cut short"))?;
        let kind = match header.flags {
            BRANCH_PAGE => Kind::Branch,
            LEAF_PAGE => Kind::Leaf,
            _ => {
                return Err(corrupt(
                    "a tree pointer leads to a page that is neither a branch nor a leaf",
                ));
            }
        };
        let elems_end = usize::from(header.count)
            .checked_mul(ELEMENT_SIZE)
            .and_then(|n| n.checked_add(PAGE_HEADER_SIZE));
        if elems_end.is_none_or(|end| end > bytes.len()) {
            return Err(corrupt("the element headers run past the end of the page"));
        }
        if kind == Kind::Branch && header.count == 0 {
            return Err(corrupt("a branch page has no elements"));
        }
        check_packed(bytes, kind, header.count).map_err(corrupt)?;
        Ok(Self { at, header, kind, bytes })
    }

    /// Number of elements.
    pub fn count(&self) -> u16 {
        self.header.count
    }

    /// A reader at element `i`'s header.
    fn element(&self, i: u16) -> Result<Reader<'a>, SnapshotError> {
        let bad = || self.corrupt("element index out of range");
        if i >= self.header.count {
            return Err(bad());
        }
        element(self.bytes, i).ok_or_else(bad)
    }

    fn corrupt(&self, what: &'static str) -> SnapshotError {
        SnapshotError::Corrupt { at: self.at, what }
    }

    /// `bytes[elem + pos .. elem + pos + len]`, checked.
    fn span(
        &self,
        elem: usize,
        pos: u32,
        skip: u32,
        len: u32,
        what: &'static str,
    ) -> Result<&'a [u8], SnapshotError> {
        let start =
            usize::try_from(u64::from(pos).checked_add(u64::from(skip)).ok_or(self.corrupt(what))?)
                .ok()
                .and_then(|p| elem.checked_add(p))
                .ok_or(self.corrupt(what))?;
        let len = usize::try_from(len).map_err(|_| self.corrupt(what))?;
        let mut r = Reader::new(self.bytes);
        r.skip(start).and_then(|()| r.take(len)).map_err(|_| self.corrupt(what))
    }

    /// The `i`th branch element.
    pub fn branch(&self, i: u16) -> Result<BranchElem<'a>, SnapshotError> {
        if self.kind != Kind::Branch {
            return Err(self.corrupt("expected a branch page"));
        }
        let mut r = self.element(i)?;
        let off = r.position();
        let bad = |_| self.corrupt("element index out of range");
        let pos = r.u32_le().map_err(bad)?;
        let ksize = r.u32_le().map_err(bad)?;
        let pgid = r.u64_le().map_err(bad)?;
        let key =
            self.span(off, pos, 0, ksize, "a branch element's key runs past the end of the page")?;
        Ok(BranchElem { key, pgid })
    }

    /// The `i`th leaf element.
    pub fn leaf(&self, i: u16) -> Result<LeafElem<'a>, SnapshotError> {
        if self.kind != Kind::Leaf {
            return Err(self.corrupt("expected a leaf page"));
        }
        let mut r = self.element(i)?;
        let off = r.position();
        let mut field = || r.u32_le().map_err(|_| self.corrupt("element index out of range"));
        let (flags, pos, ksize, vsize) = (field()?, field()?, field()?, field()?);
        let key =
            self.span(off, pos, 0, ksize, "a leaf element's key runs past the end of the page")?;
        let value = self.span(
            off,
            pos,
            ksize,
            vsize,
            "a leaf element's value runs past the end of the page",
        )?;
        Ok(LeafElem { flags, key, value })
    }

    /// Visits every element, checking each: leaves call `leaf`, branches call `branch`.
    pub fn for_each(
        &self,
        mut leaf: impl FnMut(u16, LeafElem<'a>) -> Result<ControlFlow<()>, SnapshotError>,
        mut branch: impl FnMut(u16, BranchElem<'a>) -> Result<ControlFlow<()>, SnapshotError>,
    ) -> Result<ControlFlow<()>, SnapshotError> {
        for i in 0..self.header.count {
            let flow = match self.kind {
                Kind::Leaf => leaf(i, self.leaf(i)?)?,
                Kind::Branch => branch(i, self.branch(i)?)?,
            };
            if flow.is_break() {
                return Ok(flow);
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// bbolt writes a node's keys and values right after its element headers, in element order,
/// with nothing between them (`node.write`; `common.WriteInodeToPage` in bbolt 1.4): element 0's
/// data starts at `16 + 16 * count`, and each next one where the previous one's ends. A damaged
/// count, position or size breaks that chain, so it is checked for every element: otherwise a
/// lower count silently drops elements and a damaged size silently shifts keys and values.
fn check_packed(bytes: &[u8], kind: Kind, count: u16) -> Result<(), &'static str> {
    const BROKEN: &str = "an element's data does not start where the previous one's ends \
                          (a damaged element count, position or size)";
    let (key_what, value_what) = match kind {
        Kind::Leaf => (
            "a leaf element's key runs past the end of the page",
            "a leaf element's value runs past the end of the page",
        ),
        Kind::Branch => ("a branch element's key runs past the end of the page", ""),
    };
    let len = bytes.len() as u64;
    let mut expect = u64::from(count)
        .checked_mul(ELEMENT_SIZE as u64)
        .and_then(|n| n.checked_add(PAGE_HEADER_SIZE as u64))
        .ok_or(BROKEN)?;
    for i in 0..count {
        let mut r = element(bytes, i).ok_or(BROKEN)?;
        let off = r.position();
        let mut field = || r.u32_le().map_err(|_| BROKEN);
        let (pos, ksize, vsize) = match kind {
            Kind::Leaf => {
                let _flags = field()?;
                (field()?, field()?, field()?)
            }
            Kind::Branch => (field()?, field()?, 0),
        };
        let start = (off as u64).checked_add(u64::from(pos)).ok_or(BROKEN)?;
        let key_end = start.checked_add(u64::from(ksize)).ok_or(key_what)?;
        if key_end > len {
            return Err(key_what);
        }
        let end = key_end.checked_add(u64::from(vsize)).ok_or(value_what)?;
        if end > len {
            return Err(value_what);
        }
        if start != expect {
            return Err(BROKEN);
        }
        expect = end;
    }
    Ok(())
}

/// A nested bucket's header: its root page, or 0 for an inline bucket whose page follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InBucket<'a> {
    /// Root page id; 0 means inline.
    pub root: u64,
    /// The inline page (header + elements), when `root == 0`.
    pub inline: &'a [u8],
}

impl<'a> InBucket<'a> {
    /// Reads a bucket header from a leaf value with the bucket flag.
    pub fn parse(value: &'a [u8], at: At) -> Result<Self, SnapshotError> {
        let mut r = Reader::new(value);
        let root = r.u64_le().map_err(|_| SnapshotError::Corrupt {
            at,
            what: "a bucket header is shorter than 16 bytes",
        })?;
        // The sequence, then the inline page (nothing when the header itself is cut short).
        let inline = match r.skip(BUCKET_HEADER_SIZE.saturating_sub(8)) {
            Ok(()) if root == 0 => r.rest(),
            _ => &[],
        };
        Ok(Self { root, inline })
    }
}

/// Parses one node from untrusted bytes: the page header, its overflow span (`(overflow + 1) *
/// page_size` bytes must be present; extra bytes are ignored) and every element's bounds. For
/// fuzzing and tests; the reader uses [`Node::parse`] on bytes it has already sized.
pub fn parse_page(bytes: &[u8], page_size: u32) -> Result<Node<'_>, SnapshotError> {
    let header = PageHeader::parse(bytes).ok_or(SnapshotError::Corrupt {
        at: At::new(0, 0),
        what: "the page header is cut short",
    })?;
    let at = At::new(header.id, u64::from(page_size));
    let need = u64::from(header.overflow)
        .checked_add(1)
        .and_then(|n| n.checked_mul(u64::from(page_size)))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(SnapshotError::Corrupt { at, what: "the overflow count is out of range" })?;
    let node_bytes = Reader::new(bytes).take(need).map_err(|_| SnapshotError::Corrupt {
        at,
        what: "the node is shorter than its overflow count says",
    })?;
    let node = Node::parse(node_bytes, at)?;
    let _complete =
        node.for_each(|_, _| Ok(ControlFlow::Continue(())), |_, _| Ok(ControlFlow::Continue(())))?;
    Ok(node)
}
