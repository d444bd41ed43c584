//! The server's own life: the request log, and starting and stopping it (threads, TLS listener,
//! files).

use std::time::{Duration, Instant};

use super::{TOKEN, resources};
use crate::harness::apiserver::ApiServer;

#[test]
fn requests_are_counted_and_logged() {
    let server = ApiServer::start(resources(), TOKEN);
    assert_eq!(server.requests(), 0);
    server.get("/api", Some(TOKEN));
    server.get("/api", None);
    server.get("/nothing?timeout=32s", Some(TOKEN));
    assert_eq!(server.requests(), 3);
    let log = server.request_log();
    let seen: Vec<(&str, &str, u16)> =
        log.iter().map(|r| (r.method.as_str(), r.uri.as_str(), r.status)).collect();
    assert_eq!(
        seen,
        [("GET", "/api", 200), ("GET", "/api", 401), ("GET", "/nothing?timeout=32s", 404)]
    );
}

#[test]
fn drop_stops_the_server_and_removes_its_files() {
    let server = ApiServer::start(resources(), TOKEN);
    let addr: std::net::SocketAddr = server.url().trim_start_matches("https://").parse().unwrap();
    let kubeconfig = server.kubeconfig();
    assert!(kubeconfig.exists());
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(6), "stop took {:?}", started.elapsed());
    assert!(!kubeconfig.exists());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// atrest's client tests may be async: starting and dropping inside a runtime must work.
#[tokio::test]
async fn starts_and_stops_inside_an_async_test() {
    let server = ApiServer::start(resources(), TOKEN);
    // Blocking calls on the (current-thread) test runtime: the server has its own thread.
    let r = server.get("/version", Some(TOKEN));
    assert_eq!(r.status, 200);
    drop(server);
}
