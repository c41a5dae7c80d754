//! The route table: every endpoint Signoff serves, in one place. It sits
//! above everything it routes to; nothing imports it but `lib.rs`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::dpop;
use crate::health;
use crate::http::{access, headers};
use crate::oidc::authorize::login;
use crate::oidc::{
    authorize, device, device_page, discovery, end_session, introspection, jwks, par, revocation,
    token, userinfo,
};
use crate::session::account;
use crate::ssf;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // Endpoints a browser application may call from another origin. None of
    // them reads cookies, so any origin may call them.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, dpop::HEADER])
        // RFC 9449 §8: a browser client must read the nonce it is given,
        // and the challenge that asks for it.
        .expose_headers([dpop::NONCE_HEADER, header::WWW_AUTHENTICATE]);
    let api = Router::new()
        // OpenID Connect Discovery 1.0 §4 and RFC 8414 §3.
        .route(
            "/.well-known/openid-configuration",
            discovery::openid_configuration(&state),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            discovery::openid_configuration(&state),
        )
        .route("/jwks", get(jwks::jwks))
        .route("/token", post(token::token))
        // RFC 9126 §2: the pushed authorization request endpoint.
        .route("/par", post(par::push))
        // RFC 8628 §3.1: the device authorization endpoint.
        .route("/device_authorization", post(device::authorize))
        .route("/revoke", post(revocation::revoke))
        .route("/introspect", post(introspection::introspect))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .layer(cors.clone());
    let pages = Router::new()
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/login", get(login::show).post(login::submit))
        .route(
            "/consent",
            get(authorize::consent::show).post(authorize::consent::submit),
        )
        // RP-Initiated Logout 1.0 §2: the end_session_endpoint, GET and POST.
        .route(
            "/logout",
            get(end_session::end_session).post(end_session::end_session),
        )
        .route("/logout/confirm", post(end_session::confirm))
        // RFC 8628 §3.3: the verification URI of the device grant.
        .route("/device", get(device_page::show).post(device_page::submit))
        .route("/account", get(account::show))
        .route("/account/login", post(account::login))
        .route("/account/sessions/end", post(account::end_one))
        .route("/account/sessions/end-all", post(account::end_all))
        // Probes (src/health.rs).
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    // OpenID Shared Signals Framework 1.0 (src/ssf): server to server, no
    // CORS.
    let shared_signals = Router::new()
        .route(
            "/ssf/streams",
            post(ssf::streams::create)
                .get(ssf::streams::read)
                .patch(ssf::streams::update)
                .put(ssf::streams::replace)
                .delete(ssf::streams::delete),
        )
        .route(
            "/ssf/status",
            get(ssf::streams::status).post(ssf::streams::set_status),
        )
        .route("/ssf/verify", post(ssf::streams::verify))
        .route("/ssf/subjects/add", post(ssf::subjects::add))
        .route("/ssf/subjects/remove", post(ssf::subjects::remove))
        .route("/ssf/poll/{stream_id}", post(ssf::poll::poll));
    // SSF 1.0 §7.2: the transmitter metadata's well-known URI (below, the
    // form for an issuer with a path).
    let shared_signals = if state.config.issuer.path().trim_end_matches('/').is_empty() {
        shared_signals.route(
            "/.well-known/ssf-configuration",
            ssf::metadata::ssf_configuration(&state),
        )
    } else {
        shared_signals
    };
    let routes = api
        .merge(pages)
        .merge(shared_signals)
        .fallback(not_found)
        .with_state(state.clone());
    // An issuer with a path (https://example.com/auth) serves under that path.
    let router = match state.config.issuer.path().trim_end_matches('/') {
        // SSF 1.0 §7.2: the transmitter metadata's well-known URI.
        "" => routes,
        // RFC 8414 §3.1: for an issuer with a path, the well-known segment
        // goes between the host and that path.
        prefix => Router::new()
            .route(
                &format!("/.well-known/oauth-authorization-server{prefix}"),
                discovery::openid_configuration(&state),
            )
            .layer(cors)
            // SSF 1.0 §7.2: likewise for the transmitter metadata.
            .route(
                &format!("/.well-known/ssf-configuration{prefix}"),
                ssf::metadata::ssf_configuration(&state),
            )
            .with_state(state.clone())
            .nest(prefix, routes),
    };
    let router = if state.config.issuer.scheme() == "https" {
        router.layer(map_response(headers::strict_transport_security))
    } else {
        router
    };
    let http = &state.config.http;
    router
        // One body limit for every endpoint: a declared length over it gets
        // 413 before a byte is read; a chunked body fails when it passes
        // it. axum's own extractor limit (2 MiB by default) is set to match.
        .layer(DefaultBodyLimit::max(http.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(http.max_body_bytes))
        // A request (its body included) that takes longer is answered with
        // 408 and its handler dropped (RFC 9110 §15.5.9).
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            http.request_timeout,
        ))
        // Outermost: the access log sees every answer, 408 and 413 included.
        .layer(from_fn_with_state(
            access::AccessLog::new(state.rng.as_ref()),
            access::access_log,
        ))
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}
