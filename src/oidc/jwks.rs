//! The JWK Set (RFC 7517 §5) named by `jwks_uri`: every published key (next,
//! current and retired), with `kid`, `use` and `alg`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let document = state.keys.jwks();
    // Relying parties cache the set this long; a new key is published at
    // least this long before it signs (docs/keys.md), so a client honouring
    // the header never meets an unknown `kid`.
    let max_age = state.config.keys.jwks_cache_ttl.as_secs();
    let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    let etag = HeaderValue::from_str(&document.etag).ok();
    // RFC 9110 §13.1.2: a matching If-None-Match gets 304 without the body.
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == document.etag);
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            document.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, cache_control);
    if let Some(etag) = etag {
        h.insert(header::ETAG, etag);
    }
    response
}
