//! The verified claims of an accepted token, handed to handlers through
//! request extensions and the `Claims` extractor.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

/// How the token was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token verified locally (RFC 9068).
    Jwt,
    /// A token the provider's introspection endpoint vouched for (RFC 7662).
    Introspected,
}

/// What the guard verified about the caller. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Claims(pub(crate) Arc<ClaimsData>);

#[derive(Debug)]
pub(crate) struct ClaimsData {
    pub kind: TokenKind,
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub gid: Option<String>,
    pub ver: Option<i64>,
    pub cver: Option<i64>,
    /// The signing key (JWT only).
    pub kid: Option<String>,
    pub all: Map<String, Value>,
}

impl Claims {
    /// `sub`: the user, or the client itself for a client_credentials token
    /// (RFC 9068 §2.2).
    pub fn subject(&self) -> &str {
        &self.0.sub
    }

    pub fn issuer(&self) -> &str {
        &self.0.iss
    }

    pub fn audience(&self) -> &[String] {
        &self.0.aud
    }

    /// The client the token was issued to (RFC 9068 §2.2 `client_id`).
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// The `scope` claim as sent (space-separated, RFC 9068 §2.2.3).
    pub fn scope(&self) -> &str {
        &self.0.scope
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.0.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// `Ok` if the token carries `scope`; otherwise an RFC 6750 §3.1
    /// `insufficient_scope` answer (403) to return from the handler.
    pub fn require_scope(&self, scope: &str) -> Result<(), InsufficientScope> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(InsufficientScope {
                scope: scope.to_owned(),
            })
        }
    }

    pub fn expires_at(&self) -> i64 {
        self.0.exp
    }

    pub fn issued_at(&self) -> Option<i64> {
        self.0.iat
    }

    pub fn jti(&self) -> Option<&str> {
        self.0.jti.as_deref()
    }

    /// The provider session the token belongs to (`sid`), if any.
    pub fn session_id(&self) -> Option<&str> {
        self.0.sid.as_deref()
    }

    /// Signoff's grant id (`gid`): the refresh-token family.
    pub fn grant_id(&self) -> Option<&str> {
        self.0.gid.as_deref()
    }

    pub fn kind(&self) -> TokenKind {
        self.0.kind
    }

    /// Any claim, by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.all.get(name)
    }

    /// A user's token (as opposed to a client acting for itself): it
    /// carries the user's token version, or a subject other than the client.
    pub fn is_user_token(&self) -> bool {
        self.0.ver.is_some() || self.0.sub != self.0.client_id
    }
}

/// The extractor: present on every route behind the guard's layer.
impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Claims>() {
            Some(claims) => Ok(claims.clone()),
            None => {
                // A programming error (a route outside the layer): refuse
                // rather than serve without a verified caller.
                tracing::error!(
                    path = %parts.uri.path(),
                    "Claims extractor used on a route that is not behind signoff_guard's layer"
                );
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// RFC 6750 §3.1 `insufficient_scope`: the token is fine but lacks a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientScope {
    pub scope: String,
}

impl IntoResponse for InsufficientScope {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": "insufficient_scope",
            "error_description": format!("the token lacks the scope {}", self.scope),
        })
        .to_string();
        let mut response = (StatusCode::FORBIDDEN, body).into_response();
        let headers = response.headers_mut();
        // Scope tokens are NQCHAR (RFC 6749 §3.3) and may not contain `"`
        // or `\`; a value that cannot be a header is left out.
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            self.scope
        );
        if let Ok(v) = HeaderValue::from_str(&challenge)
            && !self.scope.contains(['"', '\\'])
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(scope: &str) -> Claims {
        Claims(Arc::new(ClaimsData {
            kind: TokenKind::Jwt,
            iss: "https://op".into(),
            sub: "u1".into(),
            aud: vec!["https://api".into()],
            client_id: "app".into(),
            scope: scope.into(),
            exp: 200,
            iat: Some(100),
            nbf: None,
            jti: Some("j".into()),
            sid: None,
            gid: None,
            ver: None,
            cver: None,
            kid: None,
            all: Map::new(),
        }))
    }

    #[test]
    fn scopes_and_insufficient_scope() {
        let c = claims("openid  api.read");
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["openid", "api.read"]);
        assert!(c.require_scope("api.read").is_ok());
        let response = c.require_scope("api.write").unwrap_err().into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"api.write\""
        );
        assert!(c.is_user_token(), "sub is not the client");
    }

    #[tokio::test]
    async fn the_extractor_refuses_routes_outside_the_layer() {
        let (mut parts, _) = http::Request::new(()).into_parts();
        let refused = Claims::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
        parts.extensions.insert(claims("a"));
        let found = Claims::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(found.subject(), "u1");
    }
}
