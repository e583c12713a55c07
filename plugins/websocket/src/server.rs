//! The accept loop: HTTP/1.1 with WebSocket upgrades on any path.

use std::convert::Infallible;
use std::sync::Arc;

use happn_cluster_sdk::{ConnectionInfo, Host, HttpRequest, Result, ServeOptions};

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

use crate::connection::{self, Role, Slot};
use crate::idle::{Activity, IdleIo};
use crate::slots::Refusal;

const MAX_HTTP_BODY: usize = 1024 * 1024;
/// What a connection over the limit is told before it is closed.
const AT_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 42\r\n\r\nserver at its connection limit; try again\n";

const ADDRESS_AT_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 50\r\n\r\ntoo many connections from your address; try again\n";

/// Accepts until `shutdown` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    host: Arc<dyn Host>,
    options: ServeOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let acceptor = options.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let mut backoff = std::time::Duration::from_millis(10);
    let slots =
        crate::slots::Slots::new(options.max_connections, options.max_connections_per_address);
    loop {
        let accepted = tokio::select! {
            changed = shutdown.changed() => {
                // A dropped sender means the owner is gone: stop too.
                if changed.is_err() || *shutdown.borrow() { return Ok(()); }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => {
                backoff = std::time::Duration::from_millis(10);
                pair
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let slot = match slots.take(happn_cluster_sdk::address_group(remote.ip())) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, acceptor.is_some(), remote, refusal);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let host = host.clone();
        let options = options.clone();
        let acceptor = acceptor.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            let activity = Activity::new();
            let idle_timeout = options.http_idle_timeout;
            // The slot moves into the WebSocket tasks on upgrade, or ends with this task.
            let slot = Arc::new(std::sync::Mutex::new(Some(slot)));
            let service = {
                let activity = activity.clone();
                hyper::service::service_fn(move |req| {
                    let busy = activity.busy();
                    let reply = handle(req, remote, host.clone(), options.clone(), slot.clone());
                    async move {
                        let reply = reply.await;
                        drop(busy);
                        reply
                    }
                })
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Slow-header connections are closed instead of held forever.
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(30));
            let result = match acceptor {
                None => {
                    let io = TokioIo::new(IdleIo::new(stream, activity.clone()));
                    let connection = builder
                        .keep_alive(true)
                        .serve_connection(io, service)
                        .with_upgrades();
                    let connection = serve_until_stopped(connection, stopping);
                    activity.close_when_idle(connection, idle_timeout).await
                }
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await;
                    let tls = match handshake {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                    let io = TokioIo::new(IdleIo::new(tls, activity.clone()));
                    let connection = builder
                        .keep_alive(true)
                        .serve_connection(io, service)
                        .with_upgrades();
                    let connection = serve_until_stopped(connection, stopping);
                    activity.close_when_idle(connection, idle_timeout).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        });
    }
}

/// Drives one HTTP connection. Once the listener stops, the request in flight finishes and
/// the connection closes: keep-alive connections and open event streams do not outlive
/// the node. (Upgraded WebSockets have left hyper by then; the host drains those.)
async fn serve_until_stopped<I, S, B>(
    connection: hyper::server::conn::http1::UpgradeableConnection<I, S>,
    mut stopping: watch::Receiver<bool>,
) -> std::result::Result<(), hyper::Error>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        // A dropped sender means the owner is gone: stop too.
        _ = stopping.wait_for(|stopping| *stopping) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

fn headers_of(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name, want: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// Tells a connection over the limit so (plain HTTP) and closes it, without holding up the
/// accept loop.
fn refuse(
    mut stream: tokio::net::TcpStream,
    tls: bool,
    remote: std::net::SocketAddr,
    refusal: Refusal,
) {
    let answer = match refusal {
        Refusal::Full => {
            tracing::warn!(%remote, "connection refused: the listener is at its connection limit");
            AT_CAPACITY
        }
        Refusal::AddressFull => {
            tracing::warn!(%remote, "connection refused: its address holds maxConnectionsPerAddress already");
            ADDRESS_AT_CAPACITY
        }
    };
    tokio::spawn(async move {
        if !tls {
            use tokio::io::AsyncWriteExt;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                stream.write_all(answer).await?;
                stream.shutdown().await
            })
            .await;
        }
    });
}

async fn handle(
    mut req: Request<Incoming>,
    remote: std::net::SocketAddr,
    host: Arc<dyn Host>,
    options: ServeOptions,
    slot: Arc<std::sync::Mutex<Option<Slot>>>,
) -> std::result::Result<Response<Body>, Infallible> {
    if is_upgrade(&req) {
        let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
            return Ok(plain(StatusCode::BAD_REQUEST, "missing sec-websocket-key"));
        };
        let info = ConnectionInfo {
            remote: Some(remote),
            url: req.uri().to_string(),
            headers: headers_of(&req),
        };
        let upgrade = hyper::upgrade::on(&mut req);
        let slot = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        tokio::spawn(async move {
            match upgrade.await {
                Ok(upgraded) => {
                    let config = connection::ws_config(&options);
                    let stream = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        WsRole::Server,
                        Some(config),
                    )
                    .await;
                    host.accept(connection::spawn(stream, info, options, Role::Server, slot));
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
            }
        });
        let mut response = Response::new(Full::new(Bytes::new()).boxed_unsync());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        return Ok(response);
    }

    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers = headers_of(&req);
    let body = match Limited::new(req.into_body(), MAX_HTTP_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
    };
    let answer = host
        .http(HttpRequest {
            method,
            path,
            query,
            headers,
            body,
            remote: Some(remote),
        })
        .await;
    let mut response = Response::new(match answer.stream {
        None => Full::new(Bytes::from(answer.body)).boxed_unsync(),
        Some(stream) => streamed(answer.body, stream),
    });
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The body of every HTTP answer: whole, or streamed as the host produces it.
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A body of `first` and then every chunk of `stream`, each sent as it arrives.
fn streamed(first: Vec<u8>, stream: tokio::sync::mpsc::Receiver<Vec<u8>>) -> Body {
    let chunks = futures_util::stream::unfold(
        (Some(first).filter(|f| !f.is_empty()), stream),
        |(first, mut stream)| async move {
            let chunk = match first {
                Some(first) => first,
                None => stream.recv().await?,
            };
            Some((Ok(Frame::data(Bytes::from(chunk))), (None, stream)))
        },
    );
    StreamBody::new(chunks).boxed_unsync()
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync());
    *response.status_mut() = status;
    response
}
