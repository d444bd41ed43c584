//! `hexdump -C`, byte for byte (16 bytes a row, offsets in hex, `*` for repeated rows, the total
//! length last), with `#` lines naming the layer that starts within the next row.

use std::fmt::Write as _;

/// One layer of a value: where it starts and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Offset of its first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
    /// What it is (`envelope prefix k8s:enc:aescbc:v1:key1:`, `16-byte IV`, …).
    pub label: String,
}

/// The dump of `bytes`; `regions` (sorted by start) are announced above the row they start in.
/// Without regions the output is exactly `hexdump -C`'s.
pub fn hexdump(bytes: &[u8], regions: &[Region]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(4).saturating_add(64));
    let mut next_region = regions.iter().peekable();
    let mut previous: Option<&[u8]> = None;
    let mut starred = false;
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let offset = row.saturating_mul(16);
        let mut announced = false;
        while let Some(r) = next_region.next_if(|r| r.start < offset.saturating_add(16)) {
            let _ = writeln!(out, "# {:08x}  {} ({} bytes)", r.start, r.label, r.len);
            announced = true;
        }
        // hexdump prints '*' once for a run of rows equal to the one before; a layer mark
        // breaks the run so the mark stays next to its bytes.
        if !announced && previous == Some(chunk) && chunk.len() == 16 {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        previous = Some(chunk);
        let _ = write!(out, "{offset:08x} ");
        for i in 0..16 {
            if i == 8 {
                out.push(' ');
            }
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(
            chunk.iter().map(|&b| if (0x20..0x7f).contains(&b) { char::from(b) } else { '.' }),
        );
        out.push_str("|\n");
    }
    if !bytes.is_empty() {
        let _ = writeln!(out, "{:08x}", bytes.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_stars_and_marks() {
        let mut data = b"k8s\0".to_vec();
        data.extend([0u8; 40]);
        data.extend(b"tail");
        let plain = hexdump(&data, &[]);
        assert_eq!(
            plain,
            "00000000  6b 38 73 00 00 00 00 00  00 00 00 00 00 00 00 00  |k8s.............|\n\
             00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n\
             00000020  00 00 00 00 00 00 00 00  00 00 00 00 74 61 69 6c  |............tail|\n\
             00000030\n"
        );
        let marked = hexdump(
            &data,
            &[
                Region { start: 0, len: 4, label: "magic".into() },
                Region { start: 4, len: 44, label: "runtime.Unknown".into() },
            ],
        );
        assert!(marked.starts_with(
            "# 00000000  magic (4 bytes)\n# 00000004  runtime.Unknown (44 bytes)\n00000000  6b"
        ));
        let same = vec![7u8; 64];
        assert_eq!(
            hexdump(&same, &[]),
            "00000000  07 07 07 07 07 07 07 07  07 07 07 07 07 07 07 07  |................|\n*\n00000040\n"
        );
        assert_eq!(hexdump(&[], &[]), "");
    }
}
