//! Object routes, as the apiserver's installer lays them out:
//! `/api/v1[/namespaces/{ns}]/{resource}[/{name}]` and
//! `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}]`.
//! GET of a name reads one object, GET without a name LISTs (all namespaces when the path has
//! none), PATCH is server-side apply (`apply`). Query parameters of GET/LIST (selectors, limit,
//! watch, resourceVersion) are ignored: every LIST is one consistent read of the whole range.
//!
//! Served JSON: the stored object with `apiVersion` set to the requested group/version (the
//! trivial conversion the test CRDs allow) and `metadata.resourceVersion` = the etcd
//! mod_revision. Typed lists (built-ins) carry no per-item apiVersion/kind, as kube-apiserver's
//! typed list encoding leaves items' TypeMeta empty; custom resource lists are unstructured and
//! keep them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Resource;
use super::apply::patch;
use super::backend::{Store, is_json_stored};
use super::codec;
use super::gojson;
use super::state::State;
use super::status::{self, Status, not_found_status};

pub(super) fn routes() -> Router<Arc<State>> {
    let mut router = Router::new();
    for root in ["/api/{version}", "/apis/{group}/{version}"] {
        router = router
            .route(&format!("{root}/{{resource}}"), get(read))
            .route(&format!("{root}/{{resource}}/{{name}}"), get(read).patch(patch))
            .route(&format!("{root}/namespaces/{{namespace}}/{{resource}}"), get(read))
            .route(
                &format!("{root}/namespaces/{{namespace}}/{{resource}}/{{name}}"),
                get(read).patch(patch),
            );
    }
    router
}

/// The request's resource, namespace and name.
pub(super) struct Target<'a> {
    pub resource: &'a Resource,
    /// The version in the path (what the client reads and writes).
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Target<'_> {
    /// `v1` or `example.com/v1`.
    pub fn group_version(&self) -> String {
        group_version(&self.resource.group, &self.version)
    }
}

pub(super) fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

/// Matches the path against the served resources; 404 like the apiserver's mux otherwise.
pub(super) fn resolve<'a>(
    state: &'a State,
    params: &HashMap<String, String>,
) -> Result<(Target<'a>, &'a Store), Status> {
    let param = |k: &str| params.get(k).cloned();
    let group = param("group").unwrap_or_default();
    let version = param("version").unwrap_or_default();
    let resource = param("resource").unwrap_or_default();
    let (namespace, name) = (param("namespace"), param("name"));
    let store = state.store.as_ref().ok_or_else(not_found_status)?;
    let r = state
        .resources
        .iter()
        .find(|r| r.group == group && r.version == version && r.resource == resource)
        .ok_or_else(not_found_status)?;
    // A namespaced object needs its namespace; a cluster-scoped one has none.
    let wrong_scope =
        if r.namespaced { name.is_some() && namespace.is_none() } else { namespace.is_some() };
    if wrong_scope {
        return Err(not_found_status());
    }
    Ok((Target { resource: r, version, namespace, name }, store))
}

async fn read(
    AxState(state): AxState<Arc<State>>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    state.faults.delay().await;
    let (target, store) = match resolve(&state, &params) {
        Ok(t) => t,
        Err(s) => return s.into_response(),
    };
    let result = match &target.name {
        Some(name) => get_one(store, &target, name).await,
        None => list(store, &target).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn get_one(store: &Store, t: &Target<'_>, name: &str) -> Result<Response, Status> {
    let r = t.resource;
    let key = store.key(r, t.namespace.as_deref(), name);
    let found = store
        .get(&key)
        .await
        .map_err(status::internal)?
        .ok_or_else(|| status::object_not_found(&r.group, &r.resource, name))?;
    let (plaintext, _stale) = store.open(r, &key, &found.value).map_err(status::internal)?;
    let decoded = codec::decode(&plaintext).map_err(status::internal)?;
    let object = served(&decoded.object, &t.group_version(), found.mod_revision);
    Ok(respond(StatusCode::OK, &object, r))
}

async fn list(store: &Store, t: &Target<'_>) -> Result<Response, Status> {
    let r = t.resource;
    let (kvs, revision) = store
        .list(&store.list_prefix(r, t.namespace.as_deref()))
        .await
        .map_err(status::internal)?;
    let gv = t.group_version();
    let mut items = Vec::with_capacity(kvs.len());
    for (key, found) in kvs {
        // One unreadable object fails the whole LIST, as in kube-apiserver.
        let (plaintext, _) = store
            .open(r, &key, &found.value)
            .map_err(|e| status::internal(format!("{key}: {e}")))?;
        let decoded =
            codec::decode(&plaintext).map_err(|e| status::internal(format!("{key}: {e}")))?;
        let mut item = served(&decoded.object, &gv, found.mod_revision);
        if let Some(map) = item.as_object_mut().filter(|_| !is_json_stored(&r.group)) {
            map.remove("apiVersion");
            map.remove("kind");
        }
        items.push(item);
    }
    let list = json!({
        "kind": format!("{}List", r.kind),
        "apiVersion": gv,
        "metadata": {"resourceVersion": revision.to_string()},
        "items": items,
    });
    Ok(respond(StatusCode::OK, &list, r))
}

/// The object as served at `group_version`, with resourceVersion = `revision`.
pub(super) fn served(object: &Value, group_version: &str, revision: i64) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(group_version);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    } else {
        object["metadata"] = json!({"resourceVersion": revision.to_string()});
    }
    object
}

/// JSON as kube-apiserver writes it for `r`: typed field order for built-ins, sorted keys for
/// custom resources; Go's trailing newline.
pub(super) fn respond(code: StatusCode, value: &Value, r: &Resource) -> Response {
    let mut body =
        if is_json_stored(&r.group) { gojson::sorted(value) } else { gojson::typed(value) };
    body.push(b'\n');
    (code, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}
