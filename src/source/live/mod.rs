//! Live etcd over gRPC (etcd-client): one pinned revision, keys-only listing, then bounded ranges.
//!
//! Why this paging (measured, shared/docs/crates.md §3.3): etcd walks the whole remaining range
//! on every `limit`-ed Range to compute `count`, so limit paging is quadratic (1M keys in pages of
//! 1000: ~80 s). Instead we list keys only, in large chunks (the walk is then amortised over many
//! keys), and fetch values with explicit `[k_i, k_j)` ranges without a limit, whose cost is
//! proportional to the range alone. Every request names the pinned revision, so the report is a
//! consistent snapshot; if kube-apiserver's compactor removes that revision mid-scan, the scan
//! resumes after the last key it finished at a fresh revision, at most [`MAX_RESTARTS`] times.

mod history;
mod options;
mod scan;

use std::time::Duration;

use etcd_client::{Client, ConnectOptions, GetOptions, KvClient};

pub use options::LiveOptions;
use options::tls_options;
use scan::MAX_PAGE_KEYS;
pub use scan::MAX_RESTARTS;

use super::{RawKv, SourceError};

/// One etcd value is at most ~1.5 MiB (max-request-bytes), so a page of MAX_PAGE_KEYS can in
/// theory be large; tonic's default 4 MiB decode limit would fail far below that.
const MAX_DECODE_BYTES: usize = 1 << 31;

/// A connected etcd.
pub struct LiveSource {
    client: Client,
    kv: KvClient,
    opts: LiveOptions,
    max_page_keys: usize,
}

impl LiveSource {
    /// Connects and checks that etcd answers (and accepts the credentials) within the dial
    /// timeout, so that a wrong address fails fast instead of at the first page.
    pub async fn connect(opts: LiveOptions) -> Result<Self, SourceError> {
        if opts.endpoints.is_empty() {
            return Err(SourceError::Options("no etcd endpoints: pass --endpoints"));
        }
        let https = opts.cacert.is_some() || opts.cert.is_some();
        let endpoints: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else if https {
                    format!("https://{e}")
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let mut co = ConnectOptions::new()
            .with_connect_timeout(opts.dial_timeout)
            .with_timeout(opts.command_timeout);
        if endpoints.iter().any(|e| e.starts_with("https://")) {
            co = co.with_tls(tls_options(&opts)?);
        } else if opts.cert.is_some() || opts.key.is_some() {
            return Err(SourceError::Options("--cert/--key need an https:// endpoint"));
        }
        if let Some((name, password)) = &opts.user {
            co = co.with_user(name.clone(), password.clone());
        }
        let joined = endpoints.join(",");
        let dial = async {
            let client = Client::connect(&endpoints, Some(co))
                .await
                .map_err(|source| SourceError::Connect { endpoints: joined.clone(), source })?;
            let mut kv = client.kv_client().max_decoding_message_size(MAX_DECODE_BYTES);
            // Connections are lazy: a one-key read proves that etcd answers and that we may read.
            kv.get(b"\0".to_vec(), Some(GetOptions::new().with_count_only()))
                .await
                .map_err(|source| SourceError::Connect { endpoints: joined.clone(), source })?;
            Ok::<_, SourceError>((client, kv))
        };
        let (client, kv) =
            tokio::time::timeout(opts.dial_timeout, dial).await.map_err(|_| {
                SourceError::DialTimeout { endpoints: joined.clone(), timeout: opts.dial_timeout }
            })??;
        Ok(Self { client, kv, opts, max_page_keys: MAX_PAGE_KEYS })
    }

    /// Caps the keys per value range (tests use small pages to exercise paging and restarts).
    pub fn with_max_page_keys(mut self, n: usize) -> Self {
        self.max_page_keys = n.max(1);
        self
    }

    /// A cheap, cloneable handle for point reads from many tasks at once (the rewrite re-reads
    /// single keys after a conflict, and verifies every touched key).
    pub fn reader(&self) -> KeyReader {
        KeyReader { kv: self.kv.clone(), timeout: self.opts.command_timeout }
    }

    /// Seconds left on a lease (-1 once it expired), as `etcdctl lease timetolive` shows.
    pub async fn lease_ttl(&mut self, id: i64) -> Result<i64, SourceError> {
        let mut leases = self.client.lease_client();
        let fut = leases.time_to_live(id, None);
        match tokio::time::timeout(self.opts.command_timeout, fut).await {
            Ok(r) => r
                .map(|resp| resp.ttl())
                .map_err(|source| SourceError::Request { what: "read a lease", source }),
            Err(_) => Err(SourceError::CommandTimeout {
                what: "read a lease",
                timeout: self.opts.command_timeout,
            }),
        }
    }

    /// etcd's current revision.
    pub async fn current_revision(&mut self) -> Result<i64, SourceError> {
        let resp =
            self.get("read current revision", b"\0", GetOptions::new().with_count_only()).await?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Number of keys under `prefix` (count only, no data transferred).
    pub async fn count(&mut self, prefix: &[u8]) -> Result<i64, SourceError> {
        let opts = GetOptions::new().with_range(prefix_end(prefix)).with_count_only();
        let resp = self.get("count keys", prefix, opts).await?;
        Ok(resp.count())
    }

    async fn get(
        &mut self,
        what: &'static str,
        key: &[u8],
        opts: GetOptions,
    ) -> Result<etcd_client::GetResponse, SourceError> {
        let fut = self.kv.get(key.to_vec(), Some(opts));
        let timeout = self.opts.command_timeout;
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r.map_err(|source| SourceError::Request { what, source }),
            Err(_) => Err(SourceError::CommandTimeout { what, timeout }),
        }
    }
}

/// Point reads of single keys; see [`LiveSource::reader`].
#[derive(Clone)]
pub struct KeyReader {
    kv: KvClient,
    timeout: Duration,
}

impl KeyReader {
    /// The key at `rev` (0 = the current revision), and the revision it was read at.
    pub async fn get(&self, key: &[u8], rev: i64) -> Result<(Option<RawKv>, i64), SourceError> {
        let mut kv = self.kv.clone();
        let opts = GetOptions::new().with_revision(rev);
        let mut resp = match tokio::time::timeout(self.timeout, kv.get(key.to_vec(), Some(opts)))
            .await
        {
            Ok(r) => r.map_err(|source| SourceError::Request { what: "read one key", source })?,
            Err(_) => {
                return Err(SourceError::CommandTimeout {
                    what: "read one key",
                    timeout: self.timeout,
                });
            }
        };
        let revision = resp.header().map_or(0, |h| h.revision());
        Ok((resp.take_kvs().into_iter().next().map(raw_kv), revision))
    }
}

fn raw_kv(kv: etcd_client::KeyValue) -> RawKv {
    let (create_revision, mod_revision, version, lease) =
        (kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease());
    let (key, value) = kv.into_key_value();
    RawKv { key, value, create_revision, mod_revision, version, lease }
}

/// The range end that covers every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from the start.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end(b"/registry/"), b"/registry0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
