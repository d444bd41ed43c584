//! `metav1.Status` failures, byte-compatible with kube-apiserver's JSON (field order as it
//! writes them): `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
//! "message":…,"reason":…,"details":…,"code":…}` and a newline.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use super::json::KubeJson;

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct Status {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyMeta,
    status: &'static str,
    message: String,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Box<DetailsBody>>,
    code: u16,
}

/// A Status's empty ListMeta: `{}`.
#[derive(Serialize, Debug, Clone)]
struct EmptyMeta {}

/// `details` as given (`{}`), or typed (kept in Go field order, which a `Value` would sort).
#[derive(Serialize, Debug, Clone)]
#[serde(untagged)]
enum DetailsBody {
    Value(Value),
    Typed(Details),
}

impl Status {
    pub fn failure(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: "Status",
            api_version: "v1",
            metadata: EmptyMeta {},
            status: "Failure",
            message: message.into(),
            reason,
            details: None,
            code,
        }
    }

    /// `details` (`{}` for a path nothing serves; `{name, group, kind}` for a missing object).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(DetailsBody::Value(details)));
        self
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        KubeJson(code, self).into_response()
    }
}

/// A path nothing serves (apiserver's not-found handler).
pub(super) fn not_found_status() -> Status {
    Status::failure(404, "NotFound", "the server could not find the requested resource")
        .with_details(Value::Object(Map::new()))
}

pub(super) async fn not_found() -> Status {
    not_found_status()
}

pub(super) async fn method_not_allowed() -> Status {
    Status::failure(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
    .with_details(Value::Object(Map::new()))
}

/// No token, or not the server's token.
pub(super) fn unauthorized() -> Status {
    Status::failure(401, "Unauthorized", "Unauthorized")
}

/// `metav1.StatusDetails`, fields in Go order; empty ones omitted.
#[derive(Serialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// `metav1.StatusCause` (`reason` is Go's `Type`).
#[derive(Serialize, Debug, Clone)]
pub(super) struct Cause {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// A `schema.GroupResource` as errors print it: `secrets`, `widgets.example.com`.
pub(super) fn qualified(group: &str, name: &str) -> String {
    if group.is_empty() { name.to_string() } else { format!("{name}.{group}") }
}

fn resource_details(group: &str, resource: &str, name: &str) -> Details {
    Details { name: name.into(), group: group.into(), kind: resource.into(), ..Details::default() }
}

impl Status {
    fn details(mut self, details: Details) -> Self {
        self.details = Some(Box::new(DetailsBody::Typed(details)));
        self
    }
}

/// `errors.NewNotFound`: `secrets "x" not found`.
pub(super) fn object_not_found(group: &str, resource: &str, name: &str) -> Status {
    Status::failure(404, "NotFound", format!("{} {name:?} not found", qualified(group, resource)))
        .details(resource_details(group, resource, name))
}

/// `errors.NewConflict`: `Operation cannot be fulfilled on secrets "x": <why>`.
pub(super) fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Status {
    let message =
        format!("Operation cannot be fulfilled on {} {name:?}: {why}", qualified(group, resource));
    Status::failure(409, "Conflict", message).details(resource_details(group, resource, name))
}

/// `storage.OptimisticLockErrorMsg`.
pub(super) const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// One `field.Error`: its path, its cause reason and its `ErrorBody` text.
pub(super) struct FieldError {
    pub field: String,
    pub reason: &'static str,
    pub body: String,
}

impl FieldError {
    /// `field.Invalid(path, value, detail)` with a string value.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Self {
            field: field.into(),
            reason: "FieldValueInvalid",
            body: format!("Invalid value: {value:?}: {detail}"),
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: &str, detail: &str) -> Self {
        Self {
            field: field.into(),
            reason: "FieldValueRequired",
            body: format!("Required value: {detail}"),
        }
    }
}

/// `errors.NewInvalid(GroupKind, name, errs)`: `Secret "x" is invalid: metadata.uid: ...`.
pub(super) fn invalid(group: &str, kind: &str, name: &str, errors: Vec<FieldError>) -> Status {
    let texts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.body)).collect();
    let joined =
        if texts.len() == 1 { texts[0].clone() } else { format!("[{}]", texts.join(", ")) };
    let message = format!("{} {name:?} is invalid: {joined}", qualified(group, kind));
    let causes = errors
        .into_iter()
        .map(|e| Cause { reason: e.reason, message: e.body, field: e.field })
        .collect();
    Status::failure(422, "Invalid", message).details(Details {
        name: name.into(),
        group: group.into(),
        kind: kind.into(),
        causes,
        ..Details::default()
    })
}

/// `errors.NewBadRequest`.
pub(super) fn bad_request(message: impl Into<String>) -> Status {
    Status::failure(400, "BadRequest", message)
}

/// The RBAC denial (`responsewriters.Forbidden`, `forbiddenMessage`).
pub(super) fn forbidden(
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> Status {
    let scope = match namespace {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".into(),
    };
    let why =
        format!("User {user:?} cannot {verb} resource {resource:?} in API group {group:?} {scope}");
    let gr = qualified(group, resource);
    let message = if name.is_empty() {
        format!("{gr} is forbidden: {why}")
    } else {
        format!("{gr} {name:?} is forbidden: {why}")
    };
    Status::failure(403, "Forbidden", message).details(resource_details(group, resource, name))
}

/// `errors.NewTooManyRequests(message, retryAfterSeconds)`.
pub(super) fn too_many_requests(retry_after: Option<u64>) -> Status {
    let status =
        Status::failure(429, "TooManyRequests", "Too many requests, please try again later.");
    match retry_after {
        Some(s) => status.details(Details { retry_after_seconds: Some(s), ..Details::default() }),
        None => status,
    }
}

/// `errors.NewInternalError(err)`.
pub(super) fn internal(error: impl Into<String>) -> Status {
    let error = error.into();
    Status::failure(500, "InternalError", format!("Internal error occurred: {error}")).details(
        Details {
            causes: vec![Cause { reason: "", message: error, field: String::new() }],
            ..Details::default()
        },
    )
}

/// `errors.NewServiceUnavailable(reason)`.
pub(super) fn service_unavailable(message: impl Into<String>) -> Status {
    Status::failure(503, "ServiceUnavailable", message)
}

/// `negotiation.NewUnsupportedMediaTypeError(accepted)`.
pub(super) fn unsupported_media_type(accepted: &[&str]) -> Status {
    Status::failure(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}
