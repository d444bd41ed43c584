//! Paths nothing serves and requests without the token: kube-apiserver's Status bodies, byte
//! for byte.

use super::{NOT_FOUND, TOKEN, resources};
use crate::harness::apiserver::ApiServer;

/// kube-apiserver's 401 body, as captured from real servers (Content-Length 129: Go's
/// json.Encoder ends it with a newline).
const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
"#;

#[test]
fn unknown_paths_are_404_status() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(NOT_FOUND.len(), 174);
    for path in [
        "/nothing",
        "/api/v2",
        "/apis/nope",
        "/apis/nope/v1",
        "/apis/apps/v9",
        "/apis/apps/v1/x/y/z/w",
    ] {
        let r = server.get(path, Some(TOKEN));
        assert_eq!(r.status, 404, "GET {path}");
        assert_eq!(r.body, NOT_FOUND, "GET {path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let auth = format!("Bearer {TOKEN}");
    let r = server.request("POST", "/api", &[("Authorization", &auth)], b"{}");
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["reason"], "MethodNotAllowed");
}

#[test]
fn missing_or_wrong_token_is_401_status() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(UNAUTHORIZED.len(), 129);
    let cases: [(&str, Option<&str>); 5] = [
        ("/version", None),
        ("/api", Some("Bearer wrong")),
        ("/apis/apps/v1", Some("Bearer ")),
        ("/nothing", Some("Basic YWRtaW46YWRtaW4=")),
        ("/api/v1", Some(TOKEN)), // the token without the scheme
    ];
    for (path, authorization) in cases {
        let headers: Vec<(&str, &str)> =
            authorization.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let r = server.request("GET", path, &headers, b"");
        assert_eq!(r.status, 401, "GET {path} with {authorization:?}");
        assert_eq!(r.body, UNAUTHORIZED);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Scheme is case-insensitive, as in apiserver's bearertoken authenticator.
    let ok = server.request("GET", "/api", &[("Authorization", &format!("bearer {TOKEN}"))], b"");
    assert_eq!(ok.status, 200);
}
