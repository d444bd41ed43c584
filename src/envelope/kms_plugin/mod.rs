//! The KMS plugin client: [`GrpcKms`] talks gRPC over the plugins' unix sockets, the way
//! kube-apiserver does, and implements the [`KmsPlugin`] seam of `kms.rs`.
//!
//! - v1 (`v1beta1.KeyManagementService`, kubernetes/kms `apis/v1beta1/api.proto`): `Version` at
//!   connect, `Decrypt{version: "v1beta1", cipher: encDEK}` per DEK. Mirrors
//!   kubernetes/apiserver `pkg/storage/value/encrypt/envelope/grpc_service.go` and the LRU DEK cache
//!   of `envelope.go` (`cachesize`, default 1000, negative = no cache).
//! - v2 (`v2.KeyManagementService`, kubernetes/kms `apis/v2/api.proto`): `Status` at connect (its
//!   `key_id` judges staleness), `Decrypt{ciphertext, uid, key_id, annotations}` per DEK source.
//!   Mirrors `pkg/storage/value/encrypt/envelope/kmsv2/grpc_service.go` and the DEK cache of
//!   `kmsv2/envelope.go`, keyed by source, keyID and annotations.
//!
//! atrest only reads: it never calls Encrypt. Plaintext DEKs live in [`Zeroizing`] buffers and
//! never reach an error, a log line or a status. A plugin that cannot be reached costs one
//! timeout, then its provider is marked down and its objects fail at once (retried at most every
//! [`RETRY_DOWN_AFTER`]).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tonic::transport::Channel;
use zeroize::Zeroizing;

mod cache;
mod socket;
mod status;

use cache::{CacheKey, DekResult, Flight, Lru, cache_key, clone_result};
use socket::{CallError, bounded, channel, socket_path, unary};
pub use status::PluginStatus;
use status::probe;

use super::DecryptError;
use super::kms::{DekRequest, KmsPlugin};
use crate::config::{EncryptionConfig, KmsApiVersion, KmsProvider, Provider};
use crate::pb::{kms_v1beta1 as v1, kms_v2 as v2};

/// kube's default per-call timeout (`SetDefaults_KMSConfiguration`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// kube's default v1 `cachesize`.
const DEFAULT_V1_CACHE: usize = 1000;
/// v2 DEK sources cached per provider. kube-apiserver keeps them for an hour without a size bound;
/// one apiserver process writes with one seed per key_id, so a few hundred cover a big cluster.
const V2_CACHE: usize = 1024;
/// After a connection-level failure (unavailable, timeout) a provider is down: its objects fail
/// at once, and one call may probe the plugin again after this long.
pub const RETRY_DOWN_AFTER: Duration = Duration::from_secs(5);
/// The API version string of the v1beta1 service.
const V1_API: &str = "v1beta1";
/// Plugin error texts are cut to this many characters.
const MAX_MESSAGE: usize = 300;

/// A KMS plugin client for every KMS provider of a config. Implements [`KmsPlugin`]: plaintext
/// DEKs come from a bounded per-provider cache, and concurrent misses on the same encrypted DEK
/// cost one Decrypt call (single flight).
pub struct GrpcKms {
    rt: Handle,
    plugins: Vec<Plugin>,
    decrypt_calls: AtomicU64,
    uid: AtomicU64,
}

impl fmt::Debug for GrpcKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcKms")
            .field("plugins", &self.statuses())
            .field("decrypt_calls", &self.decrypt_calls())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Client {
    V1(v1::key_management_service_client::KeyManagementServiceClient<Channel>),
    V2(v2::key_management_service_client::KeyManagementServiceClient<Channel>),
}

/// One configured KMS provider and its plugin connection.
struct Plugin {
    provider: KmsProvider,
    timeout: Duration,
    /// `None` when the endpoint cannot be dialled at all (the reason is in `down`, forever).
    client: Option<Client>,
    status: PluginStatus,
    /// The key_id that judges staleness (a healthy v2 Status only).
    key_id: Option<String>,
    down: Mutex<Option<Down>>,
    /// `None` = caching disabled (v1 `cachesize` < 0).
    cache: Option<Mutex<Lru>>,
    flights: Mutex<HashMap<CacheKey, Arc<Flight>>>,
}

struct Down {
    reason: String,
    /// `None` = never retried.
    retry_at: Option<Instant>,
}
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GrpcKms {
    /// Connects to every KMS provider of `config` (each distinct provider once, in file order),
    /// asking v2 plugins for `Status` and v1 plugins for `Version`, all at once, each bounded by
    /// the provider's `timeout` (default 3s). Never fails: a plugin that cannot be reached is
    /// recorded in its [`PluginStatus`] and its objects are unreadable with that reason.
    ///
    /// `rt` must be a multi-thread runtime (its workers drive the connections). Neither this nor
    /// [`KmsPlugin::decrypt`] may be called from inside that runtime's async context: they block.
    pub fn connect(config: &EncryptionConfig, rt: &Handle) -> Self {
        let mut providers: Vec<&KmsProvider> = Vec::new();
        for provider in config.rules().iter().flat_map(|r| &r.providers) {
            if let Provider::Kms(k) = provider
                && !providers.contains(&k)
            {
                providers.push(k);
            }
        }
        let mut plugins: Vec<Plugin> = {
            let _enter = rt.enter();
            providers.into_iter().map(Plugin::new).collect()
        };

        let probes: Vec<_> = plugins
            .iter()
            .map(|p| {
                let client = p.client.clone();
                let timeout = p.timeout;
                let mut status = p.status.clone();
                rt.spawn(async move {
                    let (key_id, down) = match client {
                        Some(client) => probe(client, timeout, &mut status).await,
                        None => (None, None),
                    };
                    (status, key_id, down)
                })
            })
            .collect();
        let results = match Handle::try_current() {
            Ok(_) => None,
            Err(_) => Some(rt.block_on(async {
                let mut out = Vec::with_capacity(probes.len());
                for p in probes {
                    out.push(p.await.ok());
                }
                out
            })),
        };
        let now = Instant::now();
        for (i, plugin) in plugins.iter_mut().enumerate() {
            match results.as_ref().and_then(|r| r.get(i)).and_then(Option::as_ref) {
                Some((status, key_id, down)) => {
                    plugin.status = status.clone();
                    plugin.key_id = key_id.clone();
                    if let Some(why) = down {
                        *lock(&plugin.down) = Some(Down {
                            reason: why.clone(),
                            retry_at: now.checked_add(RETRY_DOWN_AFTER),
                        });
                    }
                }
                None if plugin.client.is_some() => {
                    plugin.status.error =
                        Some("not probed (connect was called inside the async runtime)".to_owned());
                }
                None => {}
            }
        }
        Self { rt: rt.clone(), plugins, decrypt_calls: AtomicU64::new(0), uid: AtomicU64::new(0) }
    }

    /// One entry per distinct KMS provider, in config order, for the report header.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        self.plugins.iter().map(|p| p.status.clone()).collect()
    }

    /// Decrypt RPCs sent so far, all providers together.
    pub fn decrypt_calls(&self) -> u64 {
        self.decrypt_calls.load(Ordering::Relaxed)
    }

    fn plugin(&self, provider: &KmsProvider) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.provider == *provider).or_else(|| {
            self.plugins.iter().find(|p| {
                p.provider.name == provider.name
                    && p.provider.api_version == provider.api_version
                    && p.provider.endpoint == provider.endpoint
            })
        })
    }

    /// Sends one Decrypt (the caller leads the flight for this key).
    fn call(&self, plugin: &Plugin, request: &DekRequest<'_>) -> DekResult {
        plugin.check_down()?;
        let client = plugin.client.clone().ok_or_else(|| plugin.error("has no usable endpoint"))?;
        if Handle::try_current().is_ok() {
            return Err(plugin.error("cannot be called from inside the async runtime"));
        }
        let timeout = plugin.timeout;
        self.decrypt_calls.fetch_add(1, Ordering::Relaxed);
        let outcome = match (client, request) {
            (Client::V1(mut c), DekRequest::V1 { encrypted_dek }) => {
                let req = v1::DecryptRequest {
                    version: V1_API.to_owned(),
                    cipher: encrypted_dek.to_vec(),
                };
                self.rt
                    .block_on(bounded(timeout, "Decrypt", c.decrypt(unary(req))))
                    .map(|r| Zeroizing::new(r.plain))
            }
            (Client::V2(mut c), DekRequest::V2 { encrypted_dek_source, key_id, annotations }) => {
                let uid = self.uid.fetch_add(1, Ordering::Relaxed);
                let req = v2::DecryptRequest {
                    ciphertext: encrypted_dek_source.to_vec(),
                    uid: format!("atrest-{}-{uid}", std::process::id()),
                    key_id: (*key_id).to_owned(),
                    annotations: annotations.iter().map(|(k, v)| (k.clone(), v.to_vec())).collect(),
                };
                self.rt
                    .block_on(bounded(timeout, "Decrypt", c.decrypt(unary(req))))
                    .map(|r| Zeroizing::new(r.plaintext))
            }
            _ => return Err(plugin.error("was asked for a DEK of the other KMS API version")),
        };
        match outcome {
            Ok(dek) => {
                *lock(&plugin.down) = None;
                Ok(dek)
            }
            Err(CallError::Connection(why)) => {
                let err = plugin.error(&format!("is unavailable: {why}"));
                *lock(&plugin.down) = Some(Down {
                    reason: why,
                    retry_at: Instant::now().checked_add(RETRY_DOWN_AFTER),
                });
                Err(err)
            }
            Err(CallError::Refused(why)) => Err(plugin.error(&format!("refused Decrypt: {why}"))),
        }
    }
}

impl Plugin {
    fn new(provider: &KmsProvider) -> Self {
        let timeout = provider.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut status = PluginStatus {
            name: provider.name.clone(),
            api_version: provider.api_version.as_str(),
            endpoint: provider.endpoint.clone(),
            healthz: None,
            version: None,
            key_id: None,
            error: None,
        };
        let mut down = None;
        let client = match socket_path(&provider.endpoint) {
            Ok(path) => {
                let ch = channel(&path, timeout);
                Some(match provider.api_version {
                    KmsApiVersion::V1 => Client::V1(
                        v1::key_management_service_client::KeyManagementServiceClient::new(ch),
                    ),
                    KmsApiVersion::V2 => Client::V2(
                        v2::key_management_service_client::KeyManagementServiceClient::new(ch),
                    ),
                })
            }
            Err(why) => {
                status.error = Some(format!("invalid endpoint: {why}"));
                down = Some(Down { reason: format!("invalid endpoint: {why}"), retry_at: None });
                None
            }
        };
        let capacity = match (provider.api_version, provider.cache_size) {
            (KmsApiVersion::V2, _) => Some(V2_CACHE),
            (KmsApiVersion::V1, None) => Some(DEFAULT_V1_CACHE),
            (KmsApiVersion::V1, Some(n)) => usize::try_from(n).ok().filter(|&n| n > 0),
        };
        Self {
            provider: provider.clone(),
            timeout,
            client,
            status,
            key_id: None,
            down: Mutex::new(down),
            cache: capacity.map(|c| Mutex::new(Lru::new(c))),
            flights: Mutex::new(HashMap::new()),
        }
    }

    fn error(&self, what: &str) -> DecryptError {
        DecryptError::KmsPlugin {
            message: format!(
                "KMS plugin {} at {} {what}",
                self.provider.name, self.provider.endpoint
            ),
        }
    }

    /// Fails at once while the provider is down; lets one caller through per retry interval.
    fn check_down(&self) -> Result<(), DecryptError> {
        let mut down = lock(&self.down);
        let Some(d) = down.as_mut() else { return Ok(()) };
        let now = Instant::now();
        match d.retry_at {
            Some(at) if now >= at => {
                d.retry_at = now.checked_add(RETRY_DOWN_AFTER);
                Ok(())
            }
            _ => Err(self.error(&format!("is unavailable: {}", d.reason))),
        }
    }
}

impl KmsPlugin for GrpcKms {
    fn decrypt(&self, provider: &KmsProvider, request: &DekRequest<'_>) -> DekResult {
        let plugin = self.plugin(provider).ok_or_else(|| DecryptError::KmsPlugin {
            message: format!(
                "KMS provider {} at {} is not in the configuration the plugin client connected to",
                provider.name, provider.endpoint
            ),
        })?;
        let key = cache_key(request);
        if let Some(cache) = &plugin.cache
            && let Some(dek) = lock(cache).get(&key)
        {
            return Ok(dek);
        }

        // Single flight: the first caller for a key sends Decrypt; the others wait for it.
        let (flight, leader) = {
            let mut flights = lock(&plugin.flights);
            match flights.get(&key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f = Arc::new(Flight::default());
                    flights.insert(key, Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !leader {
            return wait(plugin, &flight);
        }
        // A flight that finished between our cache miss and taking the lead filled the cache.
        let cached = plugin.cache.as_ref().and_then(|c| lock(c).get(&key));
        let result = match cached {
            Some(dek) => Ok(dek),
            None => self.call(plugin, request),
        };
        if let (Ok(dek), Some(cache)) = (&result, &plugin.cache) {
            lock(cache).insert(key, dek);
        }
        let mine = clone_result(&result);
        *lock(&flight.result) = Some(result);
        flight.done.notify_all();
        lock(&plugin.flights).remove(&key);
        mine
    }

    fn current_key_id(&self, provider: &KmsProvider) -> Option<String> {
        self.plugin(provider).and_then(|p| p.key_id.clone())
    }
}
/// Waits for the leader of a flight (bounded: the leader's call is bounded by the timeout).
fn wait(plugin: &Plugin, flight: &Flight) -> DekResult {
    let limit = plugin.timeout.saturating_add(Duration::from_secs(5));
    let deadline = Instant::now().checked_add(limit);
    let mut slot = lock(&flight.result);
    loop {
        if let Some(r) = slot.as_ref() {
            return clone_result(r);
        }
        let left = deadline.map_or(limit, |d| d.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            return Err(
                plugin.error(&format!("did not answer a concurrent Decrypt within {limit:?}"))
            );
        }
        slot = flight.done.wait_timeout(slot, left).unwrap_or_else(PoisonError::into_inner).0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn an_unreachable_plugin_is_recorded_and_fails_fast() {
        let dir = std::env::temp_dir().join(format!("atrest-kms-none-{}", std::process::id()));
        let yaml = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: gone\n      \
             endpoint: unix://{}/missing.sock\n      timeout: 500ms\n",
            dir.display()
        );
        let config = EncryptionConfig::from_bytes(yaml.as_bytes()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let kms = GrpcKms::connect(&config, rt.handle());
        let statuses = kms.statuses();
        assert_eq!(statuses.len(), 1);
        let error = statuses[0].error.as_deref().unwrap();
        assert!(error.starts_with("unavailable: "), "{error}");
        assert_eq!(statuses[0].key_id, None);
        let Provider::Kms(provider) = &config.rules()[0].providers[0] else { unreachable!() };
        assert_eq!(kms.current_key_id(provider), None);
        let annotations = HashMap::new();
        let request =
            DekRequest::V2 { encrypted_dek_source: b"x", key_id: "k", annotations: &annotations };
        let started = Instant::now();
        for _ in 0..100 {
            let err = kms.decrypt(provider, &request).unwrap_err();
            let DecryptError::KmsPlugin { message } = err else { panic!("{err:?}") };
            assert!(message.starts_with("KMS plugin gone at unix://"), "{message}");
            assert!(message.contains(" is unavailable: "), "{message}");
        }
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(kms.decrypt_calls(), 0);
    }
}
