//! PATCH with `Content-Type: application/apply-patch+yaml` (server-side apply), in the order
//! kube-apiserver checks things:
//! 1. authorization (RBAC): a read-only token gets 403 Forbidden; then injected faults;
//! 2. `handlers/patch.go`: the content type (415), `ValidatePatchOptions` (422 without
//!    fieldManager), the body (YAML or JSON);
//! 3. `applyPatch`: the field manager's version check (400 `invalid object type`),
//!    `metadata.managedFields must be nil`, on a missing object a given uid is a 409
//!    `uid mismatch`, the namespace and name checks (400);
//! 4. `registry/store.go` `Update`: a given resourceVersion ≠ the current one is a 409
//!    (before the uid check, so a deleted-and-recreated object conflicts too), then
//!    `BeforeUpdate`: a different uid is 422 `field is immutable`; system fields (uid,
//!    creationTimestamp, generation, …) keep their stored values;
//! 5. `etcd3/store.go` `GuaranteedUpdate` (layout doc §5.1): re-encode at the resource's
//!    storage version; no write when the read was not stale and the plaintext is unchanged;
//!    else encrypt with provider 0 / key 0 and write with a mod_revision compare, re-reading and
//!    redoing on a lost race (bounded).
//!
//! An absent object is created (201, new uid, creationTimestamp now). `dryRun=All` does
//! everything but the write.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{Access, Caller};
use super::backend::{Store, is_custom, is_json_stored};
use super::codec::{self, Carry, Media};
use super::merge::merge;
use super::rest::{Target, group_version, resolve, respond, served};
use super::seal::new_uid;
use super::state::State;
use super::status::{self, FieldError, MODIFIED, Status};
use super::time::{now_unix, rfc3339};

const APPLY: &str = "application/apply-patch+yaml";
/// Bounded GuaranteedUpdate retries on a lost compare.
const MAX_TRIES: usize = 5;

pub(super) async fn patch(
    AxState(state): AxState<Arc<State>>,
    Extension(caller): Extension<Caller>,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.faults.delay().await;
    match handle(&state, &caller, &params, query.as_deref().unwrap_or(""), &headers, &body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle(
    state: &State,
    caller: &Caller,
    params: &HashMap<String, String>,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let (target, store) = resolve(state, params).map_err(IntoResponse::into_response)?;
    let r = target.resource;
    let name = target.name.clone().unwrap_or_default();
    if caller.access == Access::ReadOnly {
        let ns = target.namespace.as_deref();
        return Err(status::forbidden(caller.user, "patch", &r.group, &r.resource, ns, &name)
            .into_response());
    }
    if let Some(failure) = state.faults.take_patch_failure() {
        return Err(failure);
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let content_type = content_type.split(';').next().unwrap_or("").trim();
    if content_type != APPLY {
        return Err(status::unsupported_media_type(&[APPLY]).into_response());
    }
    if query_param(query, "fieldManager").unwrap_or_default().is_empty() {
        let required = FieldError::required("fieldManager", "is required for apply patch");
        return Err(
            status::invalid("meta.k8s.io", "PatchOptions", "", vec![required]).into_response()
        );
    }
    let dry_run = query_param(query, "dryRun").is_some_and(|d| d == "All");
    let patch: Value = serde_saphyr::from_slice(body)
        .map_err(|e| status::bad_request(format!("error decoding YAML: {e}")).into_response())?;
    if !patch.is_object() {
        return Err(
            status::bad_request("error decoding YAML: the patch is not an object").into_response()
        );
    }
    let key = store.key(r, target.namespace.as_deref(), &name);
    if state.faults.conflict_now(&key) {
        return Err(status::conflict(&r.group, &r.resource, &name, MODIFIED).into_response());
    }
    let apply = Apply { store, target: &target, name: &name, key: &key, patch: &patch, dry_run };
    for _ in 0..MAX_TRIES {
        if let Some(response) = apply.once().await.map_err(IntoResponse::into_response)? {
            return Ok(response);
        }
    }
    Err(status::internal(format!("{key}: still losing the etcd race after {MAX_TRIES} tries"))
        .into_response())
}

struct Apply<'a> {
    store: &'a Store,
    target: &'a Target<'a>,
    name: &'a str,
    key: &'a str,
    patch: &'a Value,
    dry_run: bool,
}

impl Apply<'_> {
    /// One GuaranteedUpdate round: the answer, or None when the compare lost (redo).
    async fn once(&self) -> Result<Option<Response>, Status> {
        let (r, t) = (self.target.resource, self.target);
        self.check_type()?;
        let meta = &self.patch["metadata"];
        if meta.get("managedFields").is_some_and(|m| !m.is_null()) {
            return Err(status::bad_request("metadata.managedFields must be nil"));
        }
        let given_uid = meta["uid"].as_str().filter(|u| !u.is_empty());
        let given_rv = meta["resourceVersion"].as_str().filter(|v| !v.is_empty());
        let Some(found) = self.store.get(self.key).await.map_err(status::internal)? else {
            if let Some(uid) = given_uid {
                let why = format!(
                    "uid mismatch: the provided object specified uid {uid}, and no existing object was found"
                );
                return Err(status::conflict(&r.group, &r.resource, self.name, &why));
            }
            return self.create().await;
        };
        let (plaintext, stale) =
            self.store.open(r, self.key, &found.value).map_err(status::internal)?;
        let decoded = codec::decode(&plaintext).map_err(status::internal)?;
        let mut current = decoded.object;
        current["apiVersion"] = json!(t.group_version());
        let mut object = current.clone();
        merge(&mut object, self.patch);
        codec::normalize(&mut object);
        self.check_identity(&mut object)?;

        // store.go Update: the precondition, then BeforeUpdate.
        if given_rv.is_some_and(|rv| rv != "0" && rv != found.mod_revision.to_string()) {
            return Err(status::conflict(&r.group, &r.resource, self.name, MODIFIED));
        }
        let stored_uid = current["metadata"]["uid"].as_str().unwrap_or_default();
        if let Some(uid) = given_uid.filter(|u| *u != stored_uid) {
            let e = FieldError::invalid("metadata.uid", uid, "field is immutable");
            return Err(status::invalid(&r.group, &r.kind, self.name, vec![e]));
        }
        keep_system_fields(&mut object, &current);
        if r.kind == "Secret" {
            let kind_of = |o: &Value| o["type"].as_str().unwrap_or("Opaque").to_owned();
            let (old, new) = (kind_of(&current), kind_of(&object));
            if old != new {
                let e = FieldError::invalid("type", &new, "field is immutable");
                return Err(status::invalid(&r.group, &r.kind, self.name, vec![e]));
            }
        }
        if is_custom(&r.group)
            && without_meta_and_status(&current) != without_meta_and_status(&object)
        {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(0);
            object["metadata"]["generation"] = json!(generation + 1);
        }

        // GuaranteedUpdate.
        let media = match decoded.carry {
            Carry::Json
                if is_json_stored(&r.group)
                    || !matches!(r.kind.as_str(), "Secret" | "ConfigMap") =>
            {
                Media::Json
            }
            _ => Media::Protobuf,
        };
        let mut stored = object.clone();
        stored["apiVersion"] = json!(group_version(&r.group, &r.storage_version));
        let new_plaintext =
            codec::encode(&stored, &decoded.carry, media).map_err(status::bad_request)?;
        if !stale && new_plaintext == plaintext {
            return Ok(Some(self.answer(StatusCode::OK, &object, found.mod_revision)));
        }
        let sealed = self.store.seal(r, self.key, &new_plaintext).map_err(status::internal)?;
        if self.dry_run {
            return Ok(Some(self.answer(StatusCode::OK, &object, found.mod_revision)));
        }
        let written = self.store.put_if(self.key, sealed, found.mod_revision).await;
        Ok(written.map_err(status::internal)?.map(|rev| self.answer(StatusCode::OK, &object, rev)))
    }

    /// The object is absent: create it from the patch.
    async fn create(&self) -> Result<Option<Response>, Status> {
        let r = self.target.resource;
        let mut object = self.patch.clone();
        codec::normalize(&mut object);
        self.check_identity(&mut object)?;
        let meta = object["metadata"].as_object_mut().expect("checked by check_identity");
        for system in ["resourceVersion", "selfLink", "generation", "deletionTimestamp"] {
            meta.remove(system);
        }
        // FillObjectMetaSystemFields; the CR strategy starts generation at 1.
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(rfc3339(now_unix())));
        if is_custom(&r.group) {
            meta.insert("generation".into(), json!(1));
        }
        let (media, carry) = if is_json_stored(&r.group) {
            (Media::Json, Carry::Json)
        } else {
            (Media::Protobuf, Carry::Modeled { managed_fields: Vec::new() })
        };
        let mut stored = object.clone();
        stored["apiVersion"] = json!(group_version(&r.group, &r.storage_version));
        let plaintext = codec::encode(&stored, &carry, media).map_err(status::bad_request)?;
        let sealed = self.store.seal(r, self.key, &plaintext).map_err(status::internal)?;
        if self.dry_run {
            return Ok(Some(self.answer(StatusCode::CREATED, &object, 0)));
        }
        let written = self.store.put_if(self.key, sealed, 0).await.map_err(status::internal)?;
        Ok(written.map(|rev| self.answer(StatusCode::CREATED, &object, rev)))
    }

    /// versionCheckManager: the patch's apiVersion and kind are the endpoint's.
    fn check_type(&self) -> Result<(), Status> {
        let r = self.target.resource;
        let api_version = self.patch["apiVersion"].as_str().unwrap_or_default();
        let kind = self.patch["kind"].as_str().unwrap_or_default();
        if api_version == self.target.group_version() && kind == r.kind {
            return Ok(());
        }
        // schema.GroupVersionKind.String(): "group/version, Kind=kind".
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Err(status::bad_request(format!("invalid object type: {group}/{version}, Kind={kind}")))
    }

    /// `EnsureObjectNamespaceMatchesRequestNamespace` and `checkName`.
    fn check_identity(&self, object: &mut Value) -> Result<(), Status> {
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        let meta = object["metadata"].as_object_mut().expect("just made an object");
        let request_ns = self.target.namespace.clone().unwrap_or_default();
        let object_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("").to_owned();
        if object_ns.is_empty() || request_ns.is_empty() {
            if request_ns.is_empty() {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), json!(request_ns));
            }
        } else if object_ns != request_ns {
            return Err(status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let object_name = meta.get("name").and_then(Value::as_str).unwrap_or("");
        if object_name != self.name {
            return Err(status::bad_request(format!(
                "the name of the object ({object_name}) does not match the name on the URL ({})",
                self.name
            )));
        }
        Ok(())
    }

    fn answer(&self, code: StatusCode, object: &Value, revision: i64) -> Response {
        let object = served(object, &self.target.group_version(), revision);
        respond(code, &object, self.target.resource)
    }
}

/// BeforeUpdate: what the client cannot change comes from the stored object.
fn keep_system_fields(object: &mut Value, current: &Value) {
    let (Some(meta), Some(old)) =
        (object["metadata"].as_object_mut(), current["metadata"].as_object())
    else {
        return;
    };
    for field in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        match old.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    meta.remove("resourceVersion");
    meta.remove("selfLink");
}

/// A custom resource's generation moves when anything but metadata and status changes.
fn without_meta_and_status(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
        map.remove("apiVersion");
    }
    object
}

/// A query parameter, percent-decoded (`+` is a space, as Go's url.ParseQuery reads it).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
