//! Bearer-token authentication, as apiserver's `bearertoken` authenticator reads the header:
//! `Authorization: Bearer <token>`, scheme case-insensitive, an empty token is no token.
//! Anonymous auth is off (`--anonymous-auth=false`), so every path, `/version` included,
//! answers 401 without a valid token.
//!
//! Each token maps to a user and an [`Access`]; the handlers read the [`Caller`] the middleware
//! puts in the request extensions and deny writes to read-only users as RBAC would (403).

use std::sync::Arc;

use axum::extract::{Request, State as AxState};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::State;
use super::status;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// get, list and discovery; a PATCH is 403 Forbidden.
    ReadOnly,
    /// Everything the server serves.
    ReadWrite,
}

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub(super) struct Caller {
    pub user: &'static str,
    pub access: Access,
}

impl Caller {
    pub fn new(access: Access) -> Self {
        let user = match access {
            Access::ReadOnly => "system:serviceaccount:default:readonly",
            Access::ReadWrite => "kubernetes-admin",
        };
        Self { user, access }
    }
}

pub(super) async fn require_bearer(
    AxState(state): AxState<Arc<State>>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented =
        request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    match presented.and_then(|t| state.access_of(t)) {
        Some(access) => {
            request.extensions_mut().insert(Caller::new(access));
            next.run(request).await
        }
        None => status::unauthorized().into_response(),
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
