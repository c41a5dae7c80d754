//! The JWK Set (RFC 7517 §5) named by `jwks_uri`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.keys.jwks()).into_response();
    // Relying parties cache the set this long; key rotation publishes a new
    // key at least this long before it signs (see docs/design.md).
    let max_age = state.config.keys.jwks_cache_ttl.as_secs();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}
