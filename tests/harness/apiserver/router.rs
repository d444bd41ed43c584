//! The axum `Router`: every concern's routes, the 404/405 fallbacks, auth, common headers and
//! the request log. Object routes (GET, LIST, apply) and OpenAPI v3 only with a backend.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State as AxState};
use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CACHE_CONTROL};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;

use super::state::{LoggedRequest, State};
use super::{auth, discovery, openapi, rest, status};

pub(super) fn build(state: Arc<State>) -> Router {
    let mut router = Router::new().merge(discovery::routes());
    if state.store.is_some() {
        router = router.merge(rest::routes()).merge(openapi::routes());
    }
    router
        .fallback(status::not_found)
        .method_not_allowed_fallback(status::method_not_allowed)
        // Outermost last: record sees every request, 401s included.
        .layer(from_fn_with_state(state.clone(), auth::require_bearer))
        .layer(from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Logs the request and sets the headers kube-apiserver puts on every answer.
async fn record(AxState(state): AxState<Arc<State>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().path_and_query().map_or_else(|| "/".into(), |p| p.to_string());
    let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut response = next.run(request).await;
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    state.record(LoggedRequest { method, uri, accept, status: response.status().as_u16() });
    response
}
