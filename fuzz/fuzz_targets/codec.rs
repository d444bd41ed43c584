//! Any plaintext: `decode` never panics, and a success always carries apiVersion and kind.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|plaintext: &[u8]| {
    if let Ok(decoded) = atrest::codec::decode(plaintext) {
        assert!(decoded.facts.api_version.is_some() && decoded.facts.kind.is_some());
    }
});
