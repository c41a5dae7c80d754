//! The transmitter's errors, mapped to HTTP in this one place. SSF 1.0
//! §8.1.1 names the status codes (400, 401, 403, 404, 409, 429); bodies
//! carry RFC 6749 §5.2-style `error` / `error_description`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Desc, ErrorBody};

#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    /// 400: malformed or invalid request.
    #[error("invalid_request: {0}")]
    BadRequest(Desc),
    /// 401 without an error code: no credentials at all (RFC 6750 §3.1).
    #[error("no credentials")]
    NoToken,
    /// 401 `invalid_token`.
    #[error("invalid_token: {0}")]
    InvalidToken(Desc),
    /// 403: the token may not do this.
    #[error("insufficient_scope: {0}")]
    Forbidden(Desc),
    /// 404: no such stream for this receiver.
    #[error("not_found")]
    NotFound,
    /// 409: a conflict, e.g. the receiver already has its maximum of streams.
    #[error("conflict: {0}")]
    Conflict(Desc),
    /// 429: too many requests of this kind.
    #[error("too_many_requests: {0}")]
    TooMany(Desc),
    /// 503: the store failed; nothing the receiver did.
    #[error("store: {0}")]
    Store(#[from] sea_orm::DbErr),
    /// 503: no signing key, or another internal failure.
    #[error("internal: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl SsfError {
    fn status(&self) -> StatusCode {
        match self {
            SsfError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SsfError::NoToken | SsfError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            SsfError::Forbidden(_) => StatusCode::FORBIDDEN,
            SsfError::NotFound => StatusCode::NOT_FOUND,
            SsfError::Conflict(_) => StatusCode::CONFLICT,
            SsfError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            SsfError::Store(_) | SsfError::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SsfError::BadRequest(_) => "invalid_request",
            SsfError::NoToken | SsfError::InvalidToken(_) => "invalid_token",
            SsfError::Forbidden(_) => "insufficient_scope",
            SsfError::NotFound => "not_found",
            SsfError::Conflict(_) => "conflict",
            SsfError::TooMany(_) => "too_many_requests",
            SsfError::Store(_) | SsfError::Internal(_) => "temporarily_unavailable",
        }
    }

    fn description(&self) -> Option<&str> {
        match self {
            SsfError::BadRequest(d)
            | SsfError::InvalidToken(d)
            | SsfError::Forbidden(d)
            | SsfError::Conflict(d)
            | SsfError::TooMany(d) => Some(d),
            SsfError::NotFound => Some("no such stream"),
            SsfError::NoToken | SsfError::Store(_) | SsfError::Internal(_) => None,
        }
    }
}

impl IntoResponse for SsfError {
    fn into_response(self) -> Response {
        match &self {
            SsfError::Store(_) | SsfError::Internal(_) => {
                tracing::error!(error = %self, "shared signals request failed")
            }
            other => tracing::info!(
                error = other.code(),
                description = other.description(),
                "shared signals request refused"
            ),
        }
        let status = self.status();
        let mut response = match &self {
            SsfError::NoToken => status.into_response(),
            _ => (
                status,
                Json(ErrorBody {
                    error: self.code(),
                    error_description: self.description(),
                }),
            )
                .into_response(),
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            // RFC 6750 §3: a bearer challenge, naming the error if any.
            SsfError::NoToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"signoff\""),
                );
            }
            SsfError::InvalidToken(_) | SsfError::Forbidden(_) => {
                let value = format!("Bearer realm=\"signoff\", error=\"{}\"", self.code());
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            SsfError::TooMany(_) | SsfError::Store(_) | SsfError::Internal(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}
