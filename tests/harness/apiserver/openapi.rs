//! The smallest OpenAPI v3 kubectl needs to apply without `--validate=false`.
//!
//! `kubectl apply` (validation `Strict`, the default) asks whether the server validates fields
//! itself: cli-runtime's `queryParamVerifierV3` reads `/openapi/v3` (the group/version index,
//! `{"paths": {"api/v1": {"serverRelativeURL": …}}}`), then that group/version's document, and
//! looks for a PATCH operation whose `x-kubernetes-group-version-kind` is the object's and whose
//! parameters include `fieldValidation`. Found: kubectl sends `fieldValidation=Strict` and does
//! no client-side schema check. Not found (or no OpenAPI), it falls back to `/openapi/v2` and
//! client-side validation against the schemas, which this server does not have.
//!
//! So each served group/version gets a document with, per resource, the item path and its
//! `get` and `patch` operations and their query parameters, as kube-apiserver names them;
//! component schemas are left out. `/openapi/v2` is not served (404).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::Resource;
use super::json::ok;
use super::state::State;
use super::status::not_found_status;

pub(super) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/openapi/v3", get(index))
        .route("/openapi/v3/api/{version}", get(core))
        .route("/openapi/v3/apis/{group}/{version}", get(group))
}

async fn index(AxState(state): AxState<Arc<State>>) -> Response {
    let mut paths = Map::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in &state.resources {
        let gv = (r.group.clone(), r.version.clone());
        if seen.contains(&gv) {
            continue;
        }
        seen.push(gv);
        let path = root(&r.group, &r.version);
        let doc = serde_json::to_vec(&document(&state.resources, &r.group, &r.version))
            .expect("a document serialises");
        // kube-apiserver: `?hash=` + the uppercase hex SHA-512 of the document.
        let hash = hex::encode_upper(Sha512::digest(&doc));
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    ok(json!({"paths": paths}))
}

async fn core(AxState(state): AxState<Arc<State>>, Path(version): Path<String>) -> Response {
    served(&state.resources, "", &version)
}

async fn group(
    AxState(state): AxState<Arc<State>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    served(&state.resources, &group, &version)
}

fn served(resources: &[Resource], group: &str, version: &str) -> Response {
    if !resources.iter().any(|r| r.group == group && r.version == version) {
        return not_found_status().into_response();
    }
    ok(document(resources, group, version))
}

/// `api/v1` or `apis/<group>/<version>`.
fn root(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn document(resources: &[Resource], group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for r in resources.iter().filter(|r| r.group == group && r.version == version) {
        let base = root(group, version);
        let (item, mut path_params) = if r.namespaced {
            (
                format!("/{base}/namespaces/{{namespace}}/{}/{{name}}", r.resource),
                vec![path_param("name"), path_param("namespace")],
            )
        } else {
            (format!("/{base}/{}/{{name}}", r.resource), vec![path_param("name")])
        };
        path_params.push(query_param("pretty"));
        let gvk = json!({"group": group, "version": version, "kind": r.kind});
        let id = format!("{}{}", camel(group, version), r.kind);
        let patch_params = ["dryRun", "fieldManager", "fieldValidation", "force"].map(query_param);
        paths.insert(
            item,
            json!({
                "get": {
                    "operationId": format!("read{id}"),
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": "get",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "patch": {
                    "operationId": format!("patch{id}"),
                    "parameters": patch_params,
                    "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                },
                "parameters": path_params,
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.31.0"},
        "paths": paths,
        "components": {},
    })
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// `CoreV1`, `AppsV1`, `ExampleComV1` for operation ids.
fn camel(group: &str, version: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    group
        .split(['.', '-'])
        .chain([version])
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}
