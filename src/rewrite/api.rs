//! The API server side: a kube client from the kubeconfig (contexts, tokens, client certificates
//! and exec plugins all come from `kube`), discovery to map each etcd key's group/resource to a
//! served endpoint, and the write itself: the StorageVersionMigration controller's no-op
//! server-side apply (storage-layout doc §5.2).

use std::path::Path;
use std::time::Duration;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use super::plan::Target;
use crate::discovery::{self, DiscoveryError, Served, ServerDiscovery};

/// The field manager atrest applies as (it owns no fields: the apply sets none).
pub const FIELD_MANAGER: &str = "atrest";
/// One request's bound; a slower answer counts as a transport failure and is retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why atrest cannot talk to the API server at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The kubeconfig could not be used.
    #[error(transparent)]
    Config(DiscoveryError),
    /// The server refused the credentials (401) or the discovery reads (403).
    #[error("the API server refused atrest's credentials ({code}): {message}")]
    Credentials {
        /// 401 or 403.
        code: u16,
        /// What it said.
        message: String,
    },
    /// Discovery failed otherwise.
    #[error(transparent)]
    Discovery(DiscoveryError),
}

/// What the server answered to one apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200/201: the object as the server now has it.
    Applied {
        /// Its resourceVersion (unchanged when the server had nothing to write).
        resource_version: Option<i64>,
    },
    /// Anything else, as a `metav1.Status`.
    Refused(Refusal),
}

/// A non-2xx answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub code: u16,
    /// `Status.reason` (`Conflict`, `NotFound`, `TooManyRequests`, …), if the body had one.
    pub reason: String,
    /// `Status.message`, or the start of the body.
    pub message: String,
    /// `Retry-After`, in seconds, as the server sent it.
    pub retry_after: Option<Duration>,
}

/// A connected API server.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    /// What it serves.
    pub discovery: ServerDiscovery,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").field("server", &self.discovery.server_version).finish()
    }
}

impl ApiClient {
    /// Reads the kubeconfig (or kubectl's default one) and the server's discovery.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut config =
            discovery::client_config(kubeconfig, context).await.map_err(ApiError::Config)?;
        // kube's default retry waits up to 1000 s per request and hides every 429; atrest
        // retries itself, bounded, and counts what it retried.
        config.default_retry = false;
        let client = kube::Client::try_from(config).map_err(|error| {
            ApiError::Config(DiscoveryError::Client {
                path: kubeconfig.map_or_else(|| "(default)".into(), |p| p.display().to_string()),
                error,
            })
        })?;
        let discovery = discovery::read(&client).await.map_err(|e| match e {
            DiscoveryError::Request { code: Some(code @ (401 | 403)), message } => {
                ApiError::Credentials { code, message }
            }
            other => ApiError::Discovery(other),
        })?;
        Ok(Self { client, discovery })
    }

    /// Where `group/resource` is served, if it is.
    pub fn served(&self, group: &str, resource: &str) -> Option<&Served> {
        self.discovery.served.get(&(group.to_owned(), resource.to_owned()))
    }

    /// The no-op apply: `{kind, apiVersion, metadata: {uid, resourceVersion}}` as
    /// `application/apply-patch+yaml` with `fieldManager=atrest`. The uid and resourceVersion
    /// are preconditions: a changed or recreated object answers 409 and is left alone.
    pub async fn apply_noop(&self, served: &Served, t: &Target) -> Result<Answer, kube::Error> {
        let body = serde_json::json!({
            "kind": served.kind,
            "apiVersion": served.group_version,
            "metadata": {"uid": t.uid, "resourceVersion": t.resource_version.to_string()},
        });
        let request = Request::builder()
            .method(Method::PATCH)
            .uri(object_path(served, t) + "?fieldManager=" + FIELD_MANAGER)
            .header(CONTENT_TYPE, "application/apply-patch+yaml")
            .header(http::header::ACCEPT, "application/json")
            .body(kube::client::Body::from(body.to_string().into_bytes()))
            .map_err(kube::Error::HttpError)?;
        let response = match tokio::time::timeout(REQUEST_TIMEOUT, self.client.send(request)).await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(kube::Error::Service(
                    format!("no answer in {}s", REQUEST_TIMEOUT.as_secs()).into(),
                ));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.into_body().collect_bytes().await?;
        Ok(answer(status, &bytes, retry_after))
    }
}

fn answer(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Answer {
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(rename = "resourceVersion")]
        resource_version: Option<String>,
    }
    #[derive(Deserialize, Default)]
    struct Reply {
        metadata: Option<Meta>,
        reason: Option<String>,
        message: Option<String>,
    }
    let reply: Reply = serde_json::from_slice(body).unwrap_or_default();
    if status.is_success() {
        return Answer::Applied {
            resource_version: reply
                .metadata
                .and_then(|m| m.resource_version)
                .and_then(|rv| rv.parse().ok()),
        };
    }
    let message = reply.message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.chars().take(200).collect::<String>().trim().to_owned()
    });
    Answer::Refused(Refusal {
        code: status.as_u16(),
        reason: reply.reason.unwrap_or_default(),
        message,
        retry_after,
    })
}

/// `/api/v1/namespaces/ns/secrets/name` or `/apis/g/v/[namespaces/ns/]res/name`.
fn object_path(served: &Served, t: &Target) -> String {
    let root = if served.group_version.contains('/') { "/apis/" } else { "/api/" };
    let mut path = format!("{root}{}", served.group_version);
    if let (true, Some(ns)) = (served.namespaced, &t.namespace) {
        path.push_str("/namespaces/");
        path.push_str(&segment(ns));
    }
    path.push('/');
    path.push_str(&segment(&t.resource));
    path.push('/');
    path.push_str(&segment(&t.name));
    path
}

/// Percent-encodes one path segment (RFC 3986 pchar): names such as `system:node:a` keep their
/// `:`, anything unusual from an odd etcd key is escaped rather than changing the path.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(ns: Option<&str>, name: &str) -> Target {
        Target {
            key: b"/registry/x".to_vec(),
            group: String::new(),
            resource: "secrets".into(),
            namespace: ns.map(str::to_owned),
            name: name.into(),
            uid: "u".into(),
            resource_version: 7,
            api_version: None,
            kind: None,
            expected_api_version: None,
            envelope_stale: true,
            reasons: vec![],
        }
    }

    fn served(gv: &str, namespaced: bool) -> Served {
        Served { group_version: gv.into(), kind: "Secret".into(), namespaced, verbs: vec![] }
    }

    #[test]
    fn paths_follow_the_rest_layout() {
        assert_eq!(
            object_path(&served("v1", true), &target(Some("default"), "db")),
            "/api/v1/namespaces/default/secrets/db"
        );
        let mut t = target(None, "system:node:a b/c");
        t.resource = "clusterroles".into();
        assert_eq!(
            object_path(&served("rbac.authorization.k8s.io/v1", false), &t),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node:a%20b%2Fc"
        );
    }

    #[test]
    fn answers_are_read_from_status_bodies() {
        let ok = answer(StatusCode::OK, br#"{"metadata":{"resourceVersion":"42"}}"#, None);
        assert_eq!(ok, Answer::Applied { resource_version: Some(42) });
        let conflict = answer(
            StatusCode::CONFLICT,
            br#"{"kind":"Status","reason":"Conflict","message":"the object has been modified","code":409}"#,
            None,
        );
        let Answer::Refused(r) = conflict else { panic!() };
        assert_eq!((r.code, r.reason.as_str()), (409, "Conflict"));
        let Answer::Refused(r) = answer(
            StatusCode::BAD_GATEWAY,
            b"<html>bad gateway</html>",
            Some(Duration::from_secs(1)),
        ) else {
            panic!()
        };
        assert_eq!(r.message, "<html>bad gateway</html>");
        assert_eq!(r.retry_after, Some(Duration::from_secs(1)));
    }
}
