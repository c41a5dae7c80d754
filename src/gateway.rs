//! `signoff gateway`: signoff-guard as a reverse proxy, for services not
//! written in Rust. Every request passes the guard; accepted ones go to the
//! upstream with the verified identity in `X-Signoff-Sub`, `X-Signoff-Scope`
//! and `X-Signoff-Client`. Incoming `X-Signoff-*` headers are removed first,
//! so a client can never claim an identity.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use signoff_guard::{Claims, Guard, WhenStale};
use tokio::net::TcpListener;
use url::Url;

use crate::config::{Config, HttpConfig};

/// Where the client secret comes from: never the command line.
pub const SECRET_ENV: &str = "SIGNOFF_GATEWAY_CLIENT_SECRET";
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
const IDENTITY_PREFIX: &str = "x-signoff-";

#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(long)]
    pub bind: SocketAddr,
    /// Base URL of the service behind the gateway (http://host:port[/path]).
    #[arg(long)]
    pub upstream: Url,
    /// The audience tokens must name (`aud`): the service's resource URI.
    #[arg(long)]
    pub audience: String,
    /// The gateway's client at Signoff: confidential, client_credentials,
    /// scope ssf.manage. Its secret comes from SIGNOFF_GATEWAY_CLIENT_SECRET
    /// or --client-secret-file.
    #[arg(long)]
    pub client_id: String,
    /// A file holding the client secret.
    #[arg(long)]
    pub client_secret_file: Option<PathBuf>,
    /// When the revocation feed has been unreachable longer than the
    /// freshness bound: reject (503) or introspect.
    #[arg(long, default_value = "reject", value_parser = ["reject", "introspect"])]
    pub when_stale: String,
    /// How long after the last good poll of the feed tokens are accepted.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub freshness_bound: Duration,
    /// Also accept opaque access tokens, through introspection.
    #[arg(long)]
    pub accept_opaque_tokens: bool,
    /// Serve GET /status (JSON) and GET /metrics (Prometheus) on this address.
    #[arg(long)]
    pub status_bind: Option<SocketAddr>,
}

fn client_secret(args: &GatewayArgs) -> anyhow::Result<String> {
    let from_env = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
    match (&args.client_secret_file, from_env) {
        (Some(_), Some(_)) => bail!("set either {SECRET_ENV} or --client-secret-file, not both"),
        (Some(path), None) => {
            let secret = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let secret = secret.trim_end_matches(['\r', '\n']).to_owned();
            if secret.is_empty() {
                bail!("{} is empty", path.display());
            }
            Ok(secret)
        }
        (None, Some(secret)) => Ok(secret),
        (None, None) => bail!(
            "the gateway's client secret is missing: set {SECRET_ENV} or --client-secret-file"
        ),
    }
}

/// `signoff gateway …`: start the guard, then proxy until Ctrl-C/SIGTERM.
pub async fn run(config: &Config, args: GatewayArgs) -> anyhow::Result<()> {
    let secret = client_secret(&args)?;
    if args.upstream.scheme() != "http" {
        bail!("--upstream must be an http:// URL (the gateway sits next to the service)");
    }
    let guard = Guard::builder(config.issuer_str(), args.audience.clone())
        .client_credentials(args.client_id.clone(), secret)
        .freshness_bound(args.freshness_bound)
        .when_stale(if args.when_stale == "introspect" {
            WhenStale::Introspect
        } else {
            WhenStale::Reject
        })
        .accept_opaque_tokens(args.accept_opaque_tokens)
        .stream_description(format!("signoff gateway for {}", args.audience))
        .build()
        .await
        .context("starting the guard")?;
    let listener = TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    if let Some(addr) = args.status_bind {
        let status = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let app = status_router(guard.clone());
        tokio::spawn(async move {
            let _ = axum::serve(status, app).await;
        });
    }
    tracing::info!(addr = %args.bind, upstream = %args.upstream, audience = %args.audience, "gateway is listening");
    let result = serve_with(
        listener,
        guard.clone(),
        args.upstream,
        &config.http,
        crate::cli::shutdown_signal(),
    )
    .await;
    guard.shutdown().await;
    result.map_err(Into::into)
}

/// `/status` and `/metrics` of the guard.
pub fn status_router(guard: Guard) -> Router {
    let metrics = guard.clone();
    Router::new()
        .route("/status", get(move || async move { Json(guard.status()) }))
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.status().to_prometheus(),
                )
            }),
        )
}

struct Upstream {
    base: Url,
    client: Client<HttpConnector, Body>,
}

/// Proxy every request on `listener` to `upstream` through `guard`, with
/// the default connection limits.
pub async fn serve(
    listener: TcpListener,
    guard: Guard,
    upstream: Url,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, guard, upstream, &HttpConfig::default(), shutdown).await
}

/// `serve` with the header timeout and connection cap of `http` (the body
/// limit and request timeout are the provider's: bodies pass through to the
/// upstream, which sets its own).
pub async fn serve_with(
    listener: TcpListener,
    guard: Guard,
    upstream: Url,
    http: &HttpConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upstream = Arc::new(Upstream {
        base: upstream,
        client: Client::builder(TokioExecutor::new()).build_http(),
    });
    let app = Router::new()
        .fallback(forward)
        .with_state(upstream)
        .layer(guard.layer());
    crate::http::server::serve(listener, app, http, shutdown).await
}

/// RFC 9110 §7.6.1: headers for one connection only, never forwarded.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn target(base: &Url, uri: &Uri) -> Option<Uri> {
    let path = format!(
        "{}{}",
        base.path().trim_end_matches('/'),
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    format!(
        "{}://{}{path}",
        base.scheme(),
        &base[url::Position::BeforeHost..url::Position::AfterPort]
    )
    .parse()
    .ok()
}

async fn forward(
    State(upstream): State<Arc<Upstream>>,
    claims: Claims,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(uri) = target(&upstream.base, &parts.uri) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    // Only the gateway speaks for the caller's identity.
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(&name);
    }
    headers.remove(header::HOST);
    for (name, value) in [
        ("x-signoff-sub", claims.subject()),
        ("x-signoff-scope", claims.scope()),
        ("x-signoff-client", claims.client_id()),
    ] {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                headers.insert(name, v);
            }
            Err(_) => {
                tracing::warn!(
                    header = name,
                    "identity not representable as a header; refused"
                );
                return StatusCode::BAD_GATEWAY.into_response();
            }
        }
    }
    parts.uri = uri;
    let request = axum::http::Request::from_parts(parts, body);
    match tokio::time::timeout(UPSTREAM_TIMEOUT, upstream.client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "upstream request failed");
            StatusCode::BAD_GATEWAY.into_response()
        }
        Err(_) => {
            tracing::warn!("upstream did not answer in time");
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_the_base_path_and_the_query() {
        let base = Url::parse("http://127.0.0.1:9000/api/").unwrap();
        let uri: Uri = "/orders/7?x=1".parse().unwrap();
        assert_eq!(
            target(&base, &uri).unwrap().to_string(),
            "http://127.0.0.1:9000/api/orders/7?x=1"
        );
        let root = Url::parse("http://localhost:9000").unwrap();
        assert_eq!(
            target(&root, &"/".parse().unwrap()).unwrap().to_string(),
            "http://localhost:9000/"
        );
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }
}
