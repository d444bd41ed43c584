//! One checked byte cursor for hand-parsed layouts: every read is bounds-checked and says where
//! the data ran out, so a parser of untrusted bytes is a sequence of `?` and never indexes.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

/// Why a read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Fewer bytes left than the layout needs.
    #[error("cut short at offset {at}: {wanted} bytes needed, {left} left")]
    Short {
        /// Offset of the read.
        at: usize,
        /// Bytes the read needed.
        wanted: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// A base-128 varint longer than 10 bytes or above 64 bits.
    #[error("invalid varint at offset {at}")]
    Varint {
        /// Offset of its first byte.
        at: usize,
    },
}

/// A cursor over `data`.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Offset of the next read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest().is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let rest = self.rest();
        let head =
            rest.get(..n).ok_or(ReadError::Short { at: self.pos, wanted: n, left: rest.len() })?;
        self.pos = self.pos.saturating_add(head.len());
        Ok(head)
    }

    /// Skips the next `n` bytes (a fixed offset, a field not needed).
    pub fn skip(&mut self, n: usize) -> Result<(), ReadError> {
        self.take(n).map(|_| ())
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let at = self.pos;
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| ReadError::Short { at, wanted: N, left: bytes.len() })
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, ReadError> {
        self.array::<1>().map(|[b]| b)
    }

    /// A little-endian u16.
    pub fn u16_le(&mut self) -> Result<u16, ReadError> {
        self.array().map(u16::from_le_bytes)
    }

    /// A big-endian u16.
    pub fn u16_be(&mut self) -> Result<u16, ReadError> {
        self.array().map(u16::from_be_bytes)
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self) -> Result<u32, ReadError> {
        self.array().map(u32::from_le_bytes)
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self) -> Result<u64, ReadError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A big-endian u64.
    pub fn u64_be(&mut self) -> Result<u64, ReadError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A protobuf base-128 varint (at most 10 bytes, at most 64 bits).
    pub fn varint(&mut self) -> Result<u64, ReadError> {
        let at = self.pos;
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(ReadError::Varint { at });
            }
            // i < 10, so the shift is at most 63.
            value |= u64::from(b & 0x7f).wrapping_shl(i.wrapping_mul(7));
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadError::Varint { at })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_are_checked_and_say_where() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 0xff]);
        assert_eq!(r.u16_le(), Ok(1));
        assert_eq!(r.u32_le(), Ok(2));
        assert_eq!(r.u32_le(), Err(ReadError::Short { at: 6, wanted: 4, left: 1 }));
        assert_eq!(r.position(), 6, "a failed read consumes nothing");
        assert_eq!(r.u8(), Ok(0xff));
        assert!(r.is_empty());
        assert_eq!(r.take(0), Ok(&[][..]));
    }

    #[test]
    fn big_endian_and_skips() {
        let mut r = Reader::new(&[0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x2a, 9]);
        assert_eq!(r.u16_be(), Ok(0x0102));
        assert_eq!(r.u64_be(), Ok(42));
        assert_eq!(r.skip(2), Err(ReadError::Short { at: 10, wanted: 2, left: 1 }));
        assert_eq!(r.position(), 10, "a failed skip consumes nothing");
        assert_eq!(r.skip(1), Ok(()));
        assert!(r.is_empty());
        assert_eq!(r.u16_be(), Err(ReadError::Short { at: 11, wanted: 2, left: 0 }));
        let mut le = Reader::new(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(le.u64_le(), Ok(1));
    }

    #[test]
    fn varints_as_protobuf_defines_them() {
        let cases: [(&[u8], Result<u64, ReadError>); 6] = [
            (&[0], Ok(0)),
            (&[0x96, 0x01], Ok(150)),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], Ok(u64::MAX)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                Err(ReadError::Varint { at: 0 }),
            ),
            (&[0x80; 11], Err(ReadError::Varint { at: 0 })),
            (&[0x80], Err(ReadError::Short { at: 1, wanted: 1, left: 0 })),
        ];
        for (bytes, want) in cases {
            assert_eq!(Reader::new(bytes).varint(), want, "{bytes:02x?}");
        }
    }
}
