//! The UserInfo endpoint (OpenID Core §5.3) with bearer tokens from the
//! Authorization header or a form body (RFC 6750 §2.1, §2.2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::OAuthError;
use crate::http::extract::form_bytes_or_empty;
use crate::http::headers::no_store;
use crate::state::AppState;
use crate::tokens::claims::user_claims;
use crate::tokens::validate::{self, ActiveToken};

pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match bearer_token(&method, &headers, &body) {
        Ok(Some(token)) => token,
        Ok(None) => return credentials_required(),
        Err(e) => return e.into_response(),
    };
    match handle(&state, &token).await {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) => e.into_response(),
    }
}

/// RFC 6750 §3.1: a request without any credentials gets a bare challenge,
/// with no error code (it is not an error, just a request to authenticate).
fn credentials_required() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"signoff\""),
    );
    no_store(response)
}

/// The bearer token of a request, from exactly one place (RFC 6750 §2);
/// `None` when the request carries none at all.
pub fn bearer_token(
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<String>, OAuthError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::InvalidToken("malformed Authorization header".into()))?;
            match v.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim().to_owned())
                }
                _ => {
                    return Err(OAuthError::InvalidToken(
                        "the Authorization header must be a Bearer token".into(),
                    ));
                }
            }
        }
    };
    let from_body = if method == Method::POST {
        let params = form_bytes_or_empty(headers, body);
        params.reject_malformed()?;
        params.get("access_token").map(str::to_owned)
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::InvalidRequest(
            "the access token was sent in more than one way".into(),
        )),
        (Some(t), None) | (None, Some(t)) => Ok(Some(t)),
        (None, None) => Ok(None),
    }
}

async fn handle(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    let invalid = || OAuthError::InvalidToken("the access token is invalid or expired".into());
    // Either format, every revocation strategy applied (tokens::validate).
    let active = validate::access_token(state, token)
        .await?
        .ok_or_else(invalid)?;
    // RFC 8707 §2 and RFC 6750 §3.1: a token minted for another resource
    // is not valid here.
    if !audience_allows_userinfo(state, &active) {
        tracing::info!(client_id = %active.client_id, "userinfo with a token for another audience");
        return Err(invalid());
    }
    let user = active.user.ok_or_else(|| {
        OAuthError::InsufficientScope("the access token was not issued for a user".into())
    })?;
    // OpenID Core §5.3.1: userinfo serves tokens granted the openid scope.
    if !active.scope.contains("openid") {
        return Err(OAuthError::InsufficientScope(
            "the access token was not granted the openid scope".into(),
        ));
    }
    let mut claims = user_claims(&user, &active.scope);
    claims.insert("sub".into(), json!(user.id));
    Ok(Value::Object(claims))
}

/// Tokens for this service carry its resource identifier
/// (`tokens.default_audience`, by default the issuer). Tokens issued before
/// that default existed carry their client id, or, opaque ones from before
/// audiences, none; they are still for us, and live at most an access
/// token lifetime after an upgrade.
fn audience_allows_userinfo(state: &AppState, token: &ActiveToken) -> bool {
    token
        .aud
        .as_deref()
        .is_none_or(|aud| aud == state.config.default_audience() || aud == token.client_id)
}
