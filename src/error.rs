//! Protocol errors, typed by their RFC 6749 §5.2 / OpenID Core §3.1.2.6 codes,
//! and mapped to HTTP responses in exactly one place.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type Desc = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Desc),
    #[error("invalid_client: {0}")]
    InvalidClient(Desc),
    #[error("invalid_grant: {0}")]
    InvalidGrant(Desc),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Desc),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Desc),
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Desc),
    #[error("invalid_scope: {0}")]
    InvalidScope(Desc),
    #[error("access_denied: {0}")]
    AccessDenied(Desc),
    #[error("invalid_token: {0}")]
    InvalidToken(Desc),
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Desc),
    // OpenID Connect Core §3.1.2.6 authentication errors.
    #[error("login_required: {0}")]
    LoginRequired(Desc),
    #[error("consent_required: {0}")]
    ConsentRequired(Desc),
    #[error("interaction_required: {0}")]
    InteractionRequired(Desc),
    /// RFC 8707 §2: a resource the client may not ask for.
    #[error("invalid_target: {0}")]
    InvalidTarget(Desc),
    #[error("request_not_supported")]
    RequestNotSupported,
    #[error("request_uri_not_supported")]
    RequestUriNotSupported,
    /// Client authentication refused without checking: too many recent
    /// failures (`crate::throttle`). RFC 6585 §4: 429 with `Retry-After`;
    /// the body keeps RFC 6749 §5.2's `invalid_client`, which every client
    /// understands as "your authentication was not accepted".
    #[error("invalid_client: throttled for {0}s")]
    Throttled(u64),
    /// No password verification slot is free. RFC 6749 defines
    /// `temporarily_unavailable` only for the authorization endpoint
    /// (§4.1.2.1), so the status carries the meaning (RFC 9110 §15.6.4: 503
    /// with `Retry-After`) and the body borrows that code.
    #[error("temporarily_unavailable: retry after {0}s")]
    Unavailable(u64),
    /// RFC 9449 §5 (token endpoint, 400) and §7.1 (protected resource, 401
    /// with a DPoP challenge): a DPoP proof that is not accepted.
    #[error("invalid_dpop_proof: {desc}")]
    InvalidDpopProof { desc: Desc, at: DpopAt },
    /// RFC 9449 §8 and §9: the proof must carry the server nonce sent in
    /// the `DPoP-Nonce` header of this response.
    #[error("use_dpop_nonce")]
    UseDpopNonce { nonce: String, at: DpopAt },
    /// RFC 9449 §7.1: a protected resource refuses the access token of a
    /// DPoP request, or a DPoP-bound token presented as a bearer token; the
    /// challenge names the DPoP scheme.
    #[error("invalid_token: {0}")]
    InvalidDpopToken(Desc),
    /// RFC 8628 §3.5: the user has not yet decided; poll again.
    #[error("authorization_pending")]
    AuthorizationPending,
    /// RFC 8628 §3.5: still pending, and the device polls too fast; its
    /// interval grew by 5 seconds.
    #[error("slow_down")]
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    #[error("expired_token")]
    ExpiredToken,
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// `Retry-After` of a 503 answered while the database cannot be reached.
pub const DB_RETRY_AFTER: u64 = 5;
/// Where a DPoP proof was refused: the token endpoint answers with a JSON
/// error (RFC 9449 §5), a protected resource with a `WWW-Authenticate: DPoP`
/// challenge (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopAt {
    TokenEndpoint,
    Resource,
}

/// RFC 9449 §7.1: the `algs` of a DPoP challenge.
const DPOP_ALGS: &str = "ES256 EdDSA RS256 PS256";

impl From<sea_orm::DbErr> for OAuthError {
    fn from(err: sea_orm::DbErr) -> Self {
        OAuthError::Internal(err.into())
    }
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) | OAuthError::Throttled(_) => "invalid_client",
            OAuthError::Unavailable(_) => "temporarily_unavailable",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::UnsupportedResponseType(_) => "unsupported_response_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::InvalidToken(_) => "invalid_token",
            OAuthError::InsufficientScope(_) => "insufficient_scope",
            OAuthError::LoginRequired(_) => "login_required",
            OAuthError::ConsentRequired(_) => "consent_required",
            OAuthError::InteractionRequired(_) => "interaction_required",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::RequestNotSupported => "request_not_supported",
            OAuthError::RequestUriNotSupported => "request_uri_not_supported",
            OAuthError::InvalidDpopProof { .. } => "invalid_dpop_proof",
            OAuthError::UseDpopNonce { .. } => "use_dpop_nonce",
            OAuthError::InvalidDpopToken(_) => "invalid_token",
            OAuthError::AuthorizationPending => "authorization_pending",
            OAuthError::SlowDown => "slow_down",
            OAuthError::ExpiredToken => "expired_token",
            OAuthError::Internal(_) => "server_error",
        }
    }

    /// RFC 6749 §5.2: 400 except `invalid_client` (401 when the client tried
    /// to authenticate). RFC 6750 §3.1: 401 for bad bearer tokens, 403 for
    /// insufficient scope.
    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient(_)
            | OAuthError::InvalidToken(_)
            | OAuthError::InvalidDpopToken(_) => StatusCode::UNAUTHORIZED,
            OAuthError::InvalidDpopProof {
                at: DpopAt::Resource,
                ..
            }
            | OAuthError::UseDpopNonce {
                at: DpopAt::Resource,
                ..
            } => StatusCode::UNAUTHORIZED,
            OAuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            OAuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The human-readable `error_description`; internal detail never leaves
    /// the server.
    pub fn description(&self) -> Option<&str> {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidClient(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::UnauthorizedClient(d)
            | OAuthError::UnsupportedGrantType(d)
            | OAuthError::UnsupportedResponseType(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::AccessDenied(d)
            | OAuthError::InvalidToken(d)
            | OAuthError::InsufficientScope(d)
            | OAuthError::LoginRequired(d)
            | OAuthError::ConsentRequired(d)
            | OAuthError::InteractionRequired(d)
            | OAuthError::InvalidTarget(d)
            | OAuthError::InvalidDpopToken(d)
            | OAuthError::InvalidDpopProof { desc: d, .. } => Some(d),
            OAuthError::UseDpopNonce { .. } => {
                Some("the DPoP proof must carry the nonce in the DPoP-Nonce header")
            }
            OAuthError::RequestNotSupported => Some("the request parameter is not supported"),
            OAuthError::RequestUriNotSupported => {
                Some("the request_uri parameter is not supported")
            }
            OAuthError::Throttled(_) => Some("too many failed authentications; retry later"),
            OAuthError::Unavailable(_) => Some("the server is busy; retry later"),
            OAuthError::AuthorizationPending => Some("the user has not yet approved the request"),
            OAuthError::SlowDown => Some("polling too fast: the interval is now 5 seconds longer"),
            OAuthError::ExpiredToken => Some("the device code has expired"),
            OAuthError::Internal(_) => None,
        }
    }

    /// Log at the right level: client mistakes are routine, server faults are not.
    pub fn log(&self) {
        match self {
            OAuthError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error")
            }
            other => tracing::info!(
                error = other.code(),
                description = other.description(),
                "request refused"
            ),
        }
    }
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<&'a str>,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // A database that cannot be reached is no fault of the request:
        // RFC 9110 §15.6.4 503 with `Retry-After`, not 500, so clients retry.
        let this = match self {
            OAuthError::Internal(e) if crate::store::is_unavailable_any(&e) => {
                tracing::warn!(error = format!("{e:#}"), "database unavailable");
                OAuthError::Unavailable(DB_RETRY_AFTER)
            }
            other => other,
        };
        this.respond()
    }
}

impl OAuthError {
    fn respond(self) -> Response {
        self.log();
        let status = self.status();
        let body = ErrorBody {
            error: self.code(),
            error_description: self.description(),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1: token responses, errors included, are not cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match &self {
            // RFC 6749 §5.2: 401 carries WWW-Authenticate with the scheme the
            // client used (Basic is the one we accept in a header).
            OAuthError::InvalidClient(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"signoff\""),
                );
            }
            // RFC 6750 §3: bearer challenges name the error.
            OAuthError::InvalidToken(_) | OAuthError::InsufficientScope(_) => {
                let value = format!("Bearer realm=\"signoff\", error=\"{}\"", self.code());
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            OAuthError::Throttled(seconds) | OAuthError::Unavailable(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            OAuthError::InvalidDpopToken(_)
            | OAuthError::InvalidDpopProof {
                at: DpopAt::Resource,
                ..
            }
            | OAuthError::UseDpopNonce {
                at: DpopAt::Resource,
                ..
            } => {
                // RFC 9449 §7.1: the DPoP challenge names the error and the
                // algorithms a proof may use.
                let value = format!("DPoP algs=\"{DPOP_ALGS}\", error=\"{}\"", self.code());
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        // RFC 9449 §8.1, §9: the nonce to use comes in `DPoP-Nonce`.
        if let OAuthError::UseDpopNonce { nonce, .. } = &self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert(crate::dpop::NONCE_HEADER, value);
        }
        response
    }
}
