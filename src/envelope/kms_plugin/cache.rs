//! The plaintext DEK cache of the KMS client: a small LRU (kube's v1 `cachesize`), keys that
//! digest everything a Decrypt request carries, and single-flight records for concurrent misses.
//! Plaintext DEKs live in [`Zeroizing`] buffers: zeroized on eviction and drop.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::super::DecryptError;
use super::super::kms::DekRequest;

pub(super) type CacheKey = [u8; 32];
pub(super) type DekResult = Result<Zeroizing<Vec<u8>>, DecryptError>;

/// One Decrypt call in progress; callers missing the same key wait for its result.
#[derive(Default)]
pub(super) struct Flight {
    pub(super) result: Mutex<Option<DekResult>>,
    pub(super) done: Condvar,
}

/// A small LRU of plaintext DEKs (zeroized on eviction and drop).
pub(super) struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<CacheKey, (Zeroizing<Vec<u8>>, u64)>,
    order: BTreeMap<u64, CacheKey>,
}

impl Lru {
    pub(super) fn new(capacity: usize) -> Self {
        Self { capacity, tick: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    pub(super) fn next_tick(&mut self) -> u64 {
        self.tick = self.tick.wrapping_add(1);
        self.tick
    }

    pub(super) fn get(&mut self, key: &CacheKey) -> Option<Zeroizing<Vec<u8>>> {
        let tick = self.next_tick();
        let (value, used) = self.entries.get_mut(key)?;
        self.order.remove(used);
        *used = tick;
        self.order.insert(tick, *key);
        Some(Zeroizing::new(value.to_vec()))
    }

    pub(super) fn insert(&mut self, key: CacheKey, value: &[u8]) {
        let tick = self.next_tick();
        if let Some((_, used)) = self.entries.remove(&key) {
            self.order.remove(&used);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (Zeroizing::new(value.to_vec()), tick));
        self.order.insert(tick, key);
    }
}

/// The cache key: a digest of everything the Decrypt request carries (kube's `generateCacheKey`
/// for v2 covers the source, keyID and annotations).
pub(super) fn cache_key(request: &DekRequest<'_>) -> CacheKey {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    match request {
        DekRequest::V1 { encrypted_dek } => {
            field(b"v1");
            field(encrypted_dek);
        }
        DekRequest::V2 { encrypted_dek_source, key_id, annotations } => {
            field(b"v2");
            field(encrypted_dek_source);
            field(key_id.as_bytes());
            let mut sorted: Vec<_> = annotations.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in sorted {
                field(k.as_bytes());
                field(v);
            }
        }
    }
    h.finalize().into()
}

pub(super) fn clone_result(r: &DekResult) -> DekResult {
    match r {
        Ok(dek) => Ok(Zeroizing::new(dek.to_vec())),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert([1; 32], b"one");
        lru.insert([2; 32], b"two");
        assert_eq!(lru.get(&[1; 32]).unwrap().as_slice(), b"one");
        lru.insert([3; 32], b"three");
        assert!(lru.get(&[2; 32]).is_none());
        assert_eq!(lru.get(&[1; 32]).unwrap().as_slice(), b"one");
        assert_eq!(lru.get(&[3; 32]).unwrap().as_slice(), b"three");
        lru.insert([3; 32], b"THREE");
        assert_eq!(lru.entries.len(), 2);
        assert_eq!(lru.order.len(), 2);
        assert_eq!(lru.get(&[3; 32]).unwrap().as_slice(), b"THREE");
    }

    #[test]
    fn cache_keys_cover_key_id_and_annotations() {
        let none = HashMap::new();
        let mut some = HashMap::new();
        some.insert("a.example.com".to_owned(), bytes::Bytes::from_static(b"1"));
        let v2 = |key_id, annotations| DekRequest::V2 {
            encrypted_dek_source: b"src",
            key_id,
            annotations,
        };
        let base = cache_key(&v2("k1", &none));
        assert_eq!(base, cache_key(&v2("k1", &none)));
        assert_ne!(base, cache_key(&v2("k2", &none)));
        assert_ne!(base, cache_key(&v2("k1", &some)));
        assert_ne!(base, cache_key(&DekRequest::V1 { encrypted_dek: b"src" }));
    }
}
