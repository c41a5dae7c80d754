//! What goes wrong: `GuardError` when the guard cannot start or reach the
//! provider, `Rejection` for a request it refuses (RFC 6750 §3 answers).

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

/// Starting the guard, or a call to the provider, failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Http {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what}: HTTP {status}")]
    Status {
        what: &'static str,
        status: reqwest::StatusCode,
    },
    #[error("{what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

impl GuardError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        GuardError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Why a token was not accepted. The description sent to the client names
/// the failed check, never key material or the token; it is plain ASCII
/// without quotes, as RFC 6750 §3 requires of `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Malformed,
    /// RFC 9068 §4: `typ` must be `at+jwt` (an ID token, a logout token or a
    /// SET is not an access token).
    WrongType,
    /// `alg` outside the allow-list (never `none`, never HMAC).
    Algorithm,
    /// No published key has this `kid` (after a rate-limited refresh).
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
    IssuedInFuture,
    MissingClaim,
    /// A revocation received from the provider's feed matches the token.
    Revoked,
    /// Introspection (RFC 7662) says the token is not active.
    Inactive,
    /// An opaque token, and introspection is not enabled.
    OpaqueNotAccepted,
    /// RFC 9449 §7.2: the token is bound to a DPoP key (`cnf`); the guard
    /// does not check DPoP proofs, and such a token is never a bearer token.
    SenderConstrained,
}

impl Reason {
    pub fn description(self) -> &'static str {
        match self {
            Reason::Malformed => "the token is malformed",
            Reason::WrongType => "the token is not a JWT access token (typ at+jwt)",
            Reason::Algorithm => "the token's signing algorithm is not accepted",
            Reason::UnknownKey => "the token is signed by an unknown key",
            Reason::Signature => "the token's signature is invalid",
            Reason::Issuer => "the token is from another issuer",
            Reason::Audience => "the token is not meant for this resource",
            Reason::Expired => "the token is expired",
            Reason::NotYetValid => "the token is not valid yet",
            Reason::IssuedInFuture => "the token is issued in the future",
            Reason::MissingClaim => "the token lacks a required claim",
            Reason::Revoked => "the token was revoked",
            Reason::Inactive => "the token is not active",
            Reason::OpaqueNotAccepted => "only JWT access tokens are accepted",
            Reason::SenderConstrained => "the token is DPoP-bound and is not a bearer token",
        }
    }

    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::WrongType => "wrong_type",
            Reason::Algorithm => "algorithm",
            Reason::UnknownKey => "unknown_key",
            Reason::Signature => "signature",
            Reason::Issuer => "issuer",
            Reason::Audience => "audience",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::MissingClaim => "missing_claim",
            Reason::Revoked => "revoked",
            Reason::Inactive => "inactive",
            Reason::OpaqueNotAccepted => "opaque",
            Reason::SenderConstrained => "sender_constrained",
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// RFC 6750 §3.1: a request without credentials gets a bare challenge,
    /// with no error code.
    MissingToken,
    /// RFC 6750 §3.1 `invalid_request` (400): a malformed Authorization
    /// header.
    InvalidRequest(&'static str),
    /// RFC 6750 §3.1 `invalid_token` (401).
    InvalidToken(Reason),
    /// 503: the revocation feed has been unreachable longer than the
    /// freshness bound and nothing else can vouch for the token.
    Unavailable,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingToken | Rejection::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Rejection::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The response, with any body type that can hold a string.
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let (challenge, body) = match self {
            Rejection::MissingToken => (Some("Bearer".to_owned()), String::new()),
            Rejection::InvalidRequest(why) => (
                Some(format!(
                    "Bearer error=\"invalid_request\", error_description=\"{why}\""
                )),
                error_body("invalid_request", why),
            ),
            Rejection::InvalidToken(reason) => (
                Some(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    reason.description()
                )),
                error_body("invalid_token", reason.description()),
            ),
            Rejection::Unavailable => (
                None,
                error_body(
                    "temporarily_unavailable",
                    "token revocations cannot be checked right now",
                ),
            ),
        };
        let mut response = Response::new(B::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if !matches!(self, Rejection::MissingToken) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Rejection::Unavailable) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn error_body(code: &str, description: &str) -> String {
    serde_json::json!({ "error": code, "error_description": description }).to_string()
}

impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        self.to_response()
    }
}
