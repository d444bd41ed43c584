//! What a KMS plugin says of itself at connect (v2 `Status`, v1 `Version`), the way
//! kube-apiserver probes it, kept for the report header.

use std::time::Duration;

use super::socket::{CallError, bounded, clean, unary};
use super::{Client, V1_API};
use crate::pb::{kms_v1beta1 as v1, kms_v2 as v2};

/// What [`GrpcKms::connect`] learned about one KMS provider's plugin, for the report header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// The provider name (`k8s:enc:kms:<v>:<name>:`).
    pub name: String,
    /// `"v1"` or `"v2"`.
    pub api_version: &'static str,
    /// The configured endpoint, `unix:///…`.
    pub endpoint: String,
    /// v2 `Status.healthz` (`"ok"` when healthy); `None` for v1 or when unknown.
    pub healthz: Option<String>,
    /// v2 `Status.version` or v1beta1 `Version.version`.
    pub version: Option<String>,
    /// v2 `Status.key_id`: the current write KEK (judges staleness).
    pub key_id: Option<String>,
    /// Why the plugin could not be asked, or why its answer is not usable.
    pub error: Option<String>,
}

/// Asks the plugin who it is: v2 `Status`, v1beta1 `Version`. Fills the status; returns the
/// staleness key_id and, for a connection-level failure, the down reason.
pub(super) async fn probe(
    client: Client,
    timeout: Duration,
    status: &mut PluginStatus,
) -> (Option<String>, Option<String>) {
    match client {
        Client::V2(mut c) => {
            match bounded(timeout, "Status", c.status(unary(v2::StatusRequest {}))).await {
                Ok(r) => {
                    let nonempty = |s: String| (!s.is_empty()).then(|| clean(&s));
                    status.healthz = nonempty(r.healthz);
                    status.version = nonempty(r.version);
                    // kube's isKMSv2ProviderHealthy: version v2 (or v2beta1), healthz ok, and a
                    // key_id of 1 byte to 1 KiB. Only then does it adopt the key_id for writes.
                    // Staleness compares the raw key_id; the status shows it printable.
                    let mut problems = Vec::new();
                    if !matches!(status.version.as_deref(), Some("v2" | "v2beta1")) {
                        problems.push(format!(
                            "Status version is {:?}, expected v2",
                            status.version.as_deref().unwrap_or_default()
                        ));
                    }
                    if status.healthz.as_deref() != Some("ok") {
                        problems.push(format!(
                            "Status healthz is {:?}, expected ok",
                            status.healthz.as_deref().unwrap_or_default()
                        ));
                    }
                    match r.key_id.len() {
                        0 => problems.push("Status has no key_id".to_owned()),
                        n if n > 1024 => {
                            problems.push("Status key_id is longer than 1 KiB".to_owned());
                        }
                        _ => status.key_id = Some(r.key_id.replace(char::is_control, " ")),
                    }
                    if problems.is_empty() {
                        (Some(r.key_id), None)
                    } else {
                        status.error = Some(format!(
                            "{}; its keyIDs are not judged stale",
                            problems.join("; ")
                        ));
                        (None, None)
                    }
                }
                Err(CallError::Connection(why)) => {
                    status.error = Some(format!("unavailable: {why}"));
                    (None, Some(why))
                }
                Err(CallError::Refused(why)) => {
                    status.error = Some(format!("Status failed: {why}"));
                    (None, None)
                }
            }
        }
        Client::V1(mut c) => {
            let req = unary(v1::VersionRequest { version: V1_API.to_owned() });
            match bounded(timeout, "Version", c.version(req)).await {
                Ok(r) => {
                    if r.version != V1_API {
                        status.error = Some(format!(
                            "Version is {:?}, only v1beta1 is supported",
                            clean(&r.version)
                        ));
                    }
                    status.version = (!r.version.is_empty()).then(|| clean(&r.version));
                    (None, None)
                }
                Err(CallError::Connection(why)) => {
                    status.error = Some(format!("unavailable: {why}"));
                    (None, Some(why))
                }
                Err(CallError::Refused(why)) => {
                    status.error = Some(format!("Version failed: {why}"));
                    (None, None)
                }
            }
        }
    }
}
