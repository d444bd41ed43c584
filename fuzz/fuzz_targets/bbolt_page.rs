//! Any page bytes: the bbolt page parser never panics and never reads past what it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for page_size in [1024u32, 4096] {
        let _ = atrest::source::snapshot::parse_page(data, page_size);
    }
    let _ = atrest::source::snapshot::revision::parse_revision_key(data);
    let _ = atrest::source::snapshot::revision::decode_key_value(data);
});
