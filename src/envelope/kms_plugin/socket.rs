//! The KMS client's transport: plugin endpoints (`unix://` as kube's `parseEndpoint` reads
//! them), lazily connected gRPC channels over unix sockets, per-call deadlines, and how a failed
//! call is classified and described (by gRPC code, never by message text).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::MAX_MESSAGE;

/// Plugin-supplied text, made safe for a report: printable, bounded.
pub(super) fn clean(text: &str) -> String {
    let mut out: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_MESSAGE).collect();
    if text.chars().nth(MAX_MESSAGE).is_some() {
        out.push('…');
    }
    out
}

/// A gRPC status with its transport cause chain, e.g.
/// `Unavailable: transport error: … No such file or directory (os error 2)`.
pub(super) fn describe_status(status: &tonic::Status) -> String {
    let mut text = format!("{:?}", status.code());
    if !status.message().is_empty() {
        text.push_str(": ");
        text.push_str(status.message());
    }
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    clean(&text)
}

/// How one RPC failed.
pub(super) enum CallError {
    /// Unavailable or no answer in time: the plugin is down.
    Connection(String),
    /// The plugin answered with an error.
    Refused(String),
}

impl CallError {
    pub(super) fn from_status(status: &tonic::Status) -> Self {
        match status.code() {
            // Cancelled: a deadline on the way (we never cancel a call ourselves).
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                Self::Connection(describe_status(status))
            }
            _ => Self::Refused(describe_status(status)),
        }
    }
}

pub(super) async fn bounded<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(CallError::from_status(&status)),
        Err(_) => Err(CallError::Connection(format!("{what} got no answer within {timeout:?}"))),
    }
}

/// No `grpc-timeout` header: the deadline is ours ([`bounded`]), so a slow plugin gets one clear
/// reason instead of racing a server-side cancellation.
pub(super) fn unary<T>(message: T) -> tonic::Request<T> {
    tonic::Request::new(message)
}

/// Why a KMS plugin endpoint names no socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not a `unix:` URL.
    #[error("only unix:// endpoints are supported")]
    NotUnix,
    /// `unix://host` and the like: nothing after the authority.
    #[error("the endpoint has no socket path")]
    NoPath,
    /// A `%` not followed by two hex digits.
    #[error("invalid %-escape in the endpoint path")]
    BadEscape,
    /// The decoded path is not UTF-8.
    #[error("the endpoint path is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

/// The socket of a `unix://` endpoint, the way kube's `parseEndpoint` reads it: the URL path
/// (authority dropped), and `/@name` for a Linux abstract socket.
pub(super) fn socket_path(endpoint: &str) -> Result<String, EndpointError> {
    let rest = endpoint
        .get(..5)
        .filter(|s| s.eq_ignore_ascii_case("unix:"))
        .and_then(|_| endpoint.get(5..))
        .ok_or(EndpointError::NotUnix)?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let path = match rest.strip_prefix("//") {
        Some(authority_path) => {
            authority_path.find('/').map_or("", |i| authority_path.get(i..).unwrap_or_default())
        }
        None => rest,
    };
    let path = percent_decode(path)?;
    if path.is_empty() {
        return Err(EndpointError::NoPath);
    }
    Ok(path.strip_prefix("/@").map_or_else(|| path.clone(), |name| format!("@{name}")))
}

pub(super) fn percent_decode(s: &str) -> Result<String, EndpointError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i.saturating_add(1)..i.saturating_add(3))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(EndpointError::BadEscape)?;
            out.push(hex);
            i = i.saturating_add(3);
        } else {
            out.push(b);
            i = i.saturating_add(1);
        }
    }
    String::from_utf8(out).map_err(EndpointError::NotUtf8)
}

pub(super) async fn dial(path: Arc<str>) -> std::io::Result<TokioIo<tokio::net::UnixStream>> {
    #[cfg(target_os = "linux")]
    if let Some(name) = path.strip_prefix('@') {
        let name = name.as_bytes().to_vec();
        let std_stream = tokio::task::spawn_blocking(move || {
            use std::os::linux::net::SocketAddrExt as _;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name)?;
            let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
            stream.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(stream)
        })
        .await
        .map_err(std::io::Error::other)??;
        return Ok(TokioIo::new(tokio::net::UnixStream::from_std(std_stream)?));
    }
    let stream = tokio::net::UnixStream::connect(PathBuf::from(&*path)).await?;
    Ok(TokioIo::new(stream))
}

/// A lazily connected channel to the socket (reconnects by itself after a plugin restart).
/// Must run inside the runtime (the channel spawns its worker there).
pub(super) fn channel(path: &str, timeout: Duration) -> Channel {
    let path: Arc<str> = Arc::from(path);
    let connector = tower::service_fn(move |_: Uri| dial(Arc::clone(&path)));
    // The authority is a placeholder, as in kube's (and grpc-go's) unix-socket dialer.
    Endpoint::from_static("http://localhost")
        .connect_timeout(timeout)
        .connect_with_connector_lazy(connector)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn endpoints_parse_like_kube() {
        assert_eq!(socket_path("unix:///tmp/kms.sock").unwrap(), "/tmp/kms.sock");
        assert_eq!(socket_path("UNIX:///tmp/kms.sock").unwrap(), "/tmp/kms.sock");
        assert_eq!(socket_path("unix://host/tmp/kms.sock").unwrap(), "/tmp/kms.sock");
        assert_eq!(socket_path("unix:/tmp/kms.sock").unwrap(), "/tmp/kms.sock");
        assert_eq!(socket_path("unix:///@kms").unwrap(), "@kms");
        assert_eq!(socket_path("unix:///tmp/a%20b.sock?x=1").unwrap(), "/tmp/a b.sock");
        assert!(matches!(socket_path("unix://"), Err(EndpointError::NoPath)));
        assert!(matches!(socket_path("unix://host"), Err(EndpointError::NoPath)));
        assert!(matches!(socket_path("tcp://host:1"), Err(EndpointError::NotUnix)));
        assert!(matches!(socket_path("unix:///a%zz"), Err(EndpointError::BadEscape)));
        assert!(matches!(socket_path("unix:///a%ff"), Err(EndpointError::NotUtf8(_))));
        assert_eq!(
            socket_path("unix:///a%ff").unwrap_err().to_string(),
            "the endpoint path is not UTF-8"
        );
    }

    #[test]
    fn status_messages_are_printable_and_bounded() {
        assert_eq!(clean("a\nb"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(clean(&long).chars().count(), MAX_MESSAGE + 1);
    }
}
