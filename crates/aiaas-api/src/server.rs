//! The accept loop, so that a client cannot hold the server: at most `max_connections` open at
//! once (more are closed as they arrive), a connection that sends nothing for `header_timeout`
//! or takes longer than that to send a request's headers (or, over HTTP/1, sits idle that long
//! between requests) is closed, and a body that sends nothing for `body_timeout` is cut off. On shutdown no new connection is taken, the
//! open ones finish their requests, and idle ones close. (axum's own `serve` takes no timeouts.)

use crate::tls::Tls;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How many connections, and how slow a client may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers, or stay idle between requests.
    pub header_timeout: Duration,
    /// Longest a request body may send nothing.
    pub body_timeout: Duration,
    /// Longest shutdown waits for open requests to finish; the connections still open then
    /// are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// What a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// The REST API and V2 over HTTP/1.1.
    Http1,
    /// V2 over gRPC: HTTP/2 only. No body timeout (a stream may rest between messages); a
    /// connection whose peer stops answering HTTP/2 pings is closed instead.
    Grpc,
}

/// How often an idle gRPC connection is pinged, and how long its answer may take.
const GRPC_KEEPALIVE: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(10));

/// A connection's byte stream: plain TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves `app` on `listener` in `protocol` within `limits` (over TLS when `tls` is given)
/// until `shutdown` completes, then lets the open requests finish.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    protocol: Protocol,
    limits: ServerLimits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let builder = Builder::new(TokioExecutor::new());
    let (builder, app, alpn) = match protocol {
        Protocol::Http1 => {
            let mut builder = builder.http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
            (builder, app, b"http/1.1".as_slice())
        }
        Protocol::Grpc => {
            let (interval, timeout) = GRPC_KEEPALIVE;
            let mut builder = builder.http2_only();
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(interval)
                .keep_alive_timeout(timeout);
            (builder, app, b"h2".as_slice())
        }
    };
    let acceptor = tls.map(|tls| tls.acceptor(alpn));
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Dropped when shutdown starts; every connection watches for it.
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection holds a receiver; when all are gone, all connections have closed.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a little, as hyper's examples do.
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Answers go out as they are written: with Nagle's algorithm an HTTP/2 answer's
        // frames (headers, data, trailers) would wait on the client's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not turn Nagle's algorithm off");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, max = limits.max_connections, "connection refused: at the cap");
            continue;
        };
        // Handlers and the audit log read the client's address as axum's `ConnectInfo`.
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: axum::http::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let (builder, mut stop, open) = (builder.clone(), stop_rx.clone(), open_rx.clone());
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let io: Box<dyn Io> = match acceptor {
                // A connection that sends nothing for the header timeout is closed (hyper's
                // HTTP/2 server has no header timeout of its own; over TLS the handshake is
                // timed below).
                None => {
                    match tokio::time::timeout(limits.header_timeout, stream.peek(&mut [0])).await {
                        Ok(_) => Box::new(stream),
                        Err(_) => {
                            tracing::debug!(%peer, "closed: nothing sent within the header timeout");
                            return;
                        }
                    }
                }
                // The handshake counts against the header timeout.
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.header_timeout, handshake).await {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let mut connection =
                pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                        break;
                    }
                    // The sender is dropped at shutdown: finish the request in flight, then close.
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop((slot, open));
        });
    }
    drop(stop_tx);
    drop(stop_rx);
    drop(open_rx);
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, open_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = open_tx.receiver_count(),
            "shutdown deadline passed: dropping the connections still open"
        );
    }
    Ok(())
}
