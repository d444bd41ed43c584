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
    metadata: Map<String, Value>,
    status: &'static str,
    message: String,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
    code: u16,
}

impl Status {
    pub fn failure(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: "Status",
            api_version: "v1",
            metadata: Map::new(),
            status: "Failure",
            message: message.into(),
            reason,
            details: None,
            code,
        }
    }

    /// `details` (`{}` for a path nothing serves; `{name, group, kind}` for a missing object).
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
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
