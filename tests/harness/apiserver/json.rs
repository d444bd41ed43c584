//! JSON bodies as kube-apiserver writes them: `Content-Type: application/json`, and the
//! trailing newline of Go's `json.Encoder` (a real 401 body is 128 bytes of JSON + `\n`).

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub(super) struct KubeJson<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for KubeJson<T> {
    fn into_response(self) -> Response {
        let mut body = match serde_json::to_vec(&self.1) {
            Ok(body) => body,
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
        body.push(b'\n');
        (self.0, [(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body)
            .into_response()
    }
}

/// 200 with `value`.
pub(super) fn ok<T: Serialize>(value: T) -> Response {
    KubeJson(StatusCode::OK, value).into_response()
}
