//! The route table: every endpoint Signoff serves, in one place.

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::oidc::{authorize, discovery, introspection, jwks, revocation, token, userinfo};
use crate::session::login;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // Endpoints a browser application may call from another origin. None of
    // them reads cookies, so any origin may call them.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("dpop"),
        ]);
    let api = Router::new()
        // OpenID Connect Discovery 1.0 §4 and RFC 8414 §3.
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::openid_configuration),
        )
        .route("/jwks", get(jwks::jwks))
        .route("/token", post(token::token))
        .route("/revoke", post(revocation::revoke))
        .route("/introspect", post(introspection::introspect))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .layer(cors);
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
        .route("/healthz", get(|| async { "ok" }));
    let routes = api
        .merge(pages)
        .fallback(not_found)
        .with_state(state.clone());
    // An issuer with a path (https://example.com/auth) serves under that path.
    match state.config.issuer.path().trim_end_matches('/') {
        "" => routes,
        prefix => Router::new().nest(prefix, routes),
    }
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}
