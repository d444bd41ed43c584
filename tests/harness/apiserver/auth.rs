//! Bearer-token authentication, as apiserver's `bearertoken` authenticator reads the header:
//! `Authorization: Bearer <token>`, scheme case-insensitive, an empty token is no token.
//! Anonymous auth is off (`--anonymous-auth=false`), so every path, `/version` included,
//! answers 401 without a valid token.

use std::sync::Arc;

use axum::extract::{Request, State as AxState};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::State;
use super::status;

pub(super) async fn require_bearer(
    AxState(state): AxState<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let presented =
        request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    if presented == Some(state.token.as_str()) {
        next.run(request).await
    } else {
        status::unauthorized().into_response()
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}
