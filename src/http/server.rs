//! The HTTP/1 server under every listener Signoff opens (the provider and
//! `signoff gateway`). `axum::serve` sets neither a header timeout nor a
//! connection cap, so a client that sends half a request could hold a
//! connection forever (slowloris); here hyper drives each connection with
//! `http.header_read_timeout`, at most `http.max_connections` are served
//! at once, and one client holds at most `http.max_connections_per_client`
//! of them (`super::peer_limit`). The request timeout and the body limit are the router's layers
//! (src/routes.rs).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Layer;

use super::peer_limit::PeerLimit;
use crate::config::HttpConfig;

/// Serve `app` on `listener` until `shutdown` completes, then let requests
/// in flight finish (at most `http.request_timeout`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let peers = PeerLimit::new(limits);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    // The timer also runs while a keep-alive connection waits for its next
    // request, so this is the idle limit too.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A connection is accepted only with a permit: past the cap, new
        // ones wait in the listen backlog until a served one ends.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = peers.admit(peer.ip()) else {
            // Closed unread: the client already holds its share.
            tracing::debug!(%peer, "connection refused: the client holds its share of connections");
            crate::metrics::connection_refused("per_client_cap");
            continue;
        };
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(configure(stream)),
            TowerToHyperService::new(axum::Extension(ConnectInfo(peer)).layer(app.clone())),
        ));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts and clients that go away: routine.
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    // Idle connections close at once; a request in progress gets its
    // request timeout to finish.
    let drain = limits.request_timeout + Duration::from_secs(1);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at shutdown were dropped");
    }
    Ok(())
}

fn configure(stream: TcpStream) -> TcpStream {
    // Responses are written whole; no reason to wait for more.
    let _ = stream.set_nodelay(true);
    stream
}

/// A failed accept is the client's (reset before accept) or a momentary
/// lack of resources (file descriptors): never a reason to stop serving.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
