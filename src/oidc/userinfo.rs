//! The UserInfo endpoint (OpenID Core §5.3) with bearer tokens from the
//! Authorization header or a form body (RFC 6750 §2.1, §2.2), and DPoP-bound
//! tokens with their proof (RFC 9449 §7).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::dpop;
use crate::error::{DpopAt, OAuthError};
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
    let presented = match access_token_of(&method, &headers, &body) {
        Ok(Some(presented)) => presented,
        Ok(None) => return credentials_required(),
        Err(e) => return e.into_response(),
    };
    let response = match handle(&state, &method, &headers, &presented).await {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) => e.into_response(),
    };
    dpop::offer_nonce(&state, response)
}

/// RFC 6750 §3.1: a request without any credentials gets a bare challenge,
/// with no error code (it is not an error, just a request to authenticate).
/// RFC 9449 §7.1: the DPoP scheme is offered beside Bearer.
fn credentials_required() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"signoff\""),
    );
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("DPoP algs=\"ES256 EdDSA RS256 PS256\""),
    );
    no_store(response)
}

/// How the access token came: as a bearer token (RFC 6750 §2) or with the
/// DPoP scheme (RFC 9449 §7.1), which requires a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

pub struct Presented {
    pub scheme: Scheme,
    pub token: String,
}

/// The access token of a request, from exactly one place (RFC 6750 §2);
/// `None` when the request carries none at all. The form body carries
/// bearer tokens only (RFC 9449 §7.1 sends DPoP tokens in the header).
pub fn access_token_of(
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<Presented>, OAuthError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::InvalidToken("malformed Authorization header".into()))?;
            let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
            let token = token.trim();
            // RFC 9110 §11.1: the scheme is case-insensitive.
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return Err(OAuthError::InvalidToken(
                    "the Authorization header must be a Bearer or DPoP token".into(),
                ));
            };
            if token.is_empty() {
                return Err(OAuthError::InvalidToken(
                    "the Authorization header carries no token".into(),
                ));
            }
            Some(Presented {
                scheme,
                token: token.to_owned(),
            })
        }
    };
    let from_body = if method == Method::POST {
        let params = form_bytes_or_empty(headers, body);
        params.reject_malformed()?;
        params.get("access_token").map(|t| Presented {
            scheme: Scheme::Bearer,
            token: t.to_owned(),
        })
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

async fn handle(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    presented: &Presented,
) -> Result<Value, OAuthError> {
    let token = presented.token.as_str();
    // RFC 9449 §7.1: with the DPoP scheme, a proof for this request and
    // this token (`ath`), and errors as DPoP challenges.
    let key = match presented.scheme {
        Scheme::Bearer => None,
        Scheme::Dpop => {
            let target = dpop::Target {
                method,
                path: "/userinfo",
                access_token: Some(token),
                at: DpopAt::Resource,
            };
            let key = dpop::check(state, headers, &target).await?;
            Some(key.ok_or_else(|| OAuthError::InvalidDpopProof {
                desc: "the DPoP scheme requires a DPoP proof".into(),
                at: DpopAt::Resource,
            })?)
        }
    };
    let invalid = |desc: &'static str| match presented.scheme {
        Scheme::Bearer => OAuthError::InvalidToken(desc.into()),
        Scheme::Dpop => OAuthError::InvalidDpopToken(desc.into()),
    };
    // Either format, every revocation strategy applied (tokens::validate).
    let active = validate::access_token(state, token)
        .await?
        .ok_or_else(|| invalid("the access token is invalid or expired"))?;
    // RFC 9449 §7.1, §7.2: a bound token only with a proof by its key, never
    // as a bearer token; the DPoP scheme only for a bound token.
    match (active.jkt.as_deref(), key.as_deref()) {
        (None, None) => {}
        (Some(bound), Some(key)) if crate::secrets::constant_time_eq(bound, key) => {}
        (Some(_), None) => {
            tracing::info!(client_id = %active.client_id, "DPoP-bound access token presented as a bearer token");
            return Err(OAuthError::InvalidDpopToken(
                "the access token is DPoP-bound: send it with the DPoP scheme and a proof".into(),
            ));
        }
        (Some(_), Some(_)) => {
            tracing::warn!(client_id = %active.client_id, "DPoP proof by another key than the access token's");
            return Err(invalid(
                "the DPoP proof is not by the key the access token is bound to",
            ));
        }
        (None, Some(_)) => return Err(invalid("the access token is not DPoP-bound")),
    }
    // RFC 8707 §2 and RFC 6750 §3.1: a token minted for another resource
    // is not valid here.
    if !audience_allows_userinfo(state, &active) {
        tracing::info!(client_id = %active.client_id, "userinfo with a token for another audience");
        return Err(invalid("the access token is invalid or expired"));
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
