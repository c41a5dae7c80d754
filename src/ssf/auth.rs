//! Who is asking: SSF 1.0 §8.1 protects the stream management API and the
//! poll endpoint with OAuth 2.0 (`authorization_schemes`
//! `urn:ietf:rfc:6749`). Signoff accepts its own access tokens from the
//! client_credentials grant, in the Authorization header only, with scope
//! `ssf.manage` (everything) or `ssf.read` (read and poll). The receiver is
//! the token's client: it sees and manages only its own streams.

use axum::http::{HeaderMap, header};

use super::error::SsfError;
use super::{MANAGE_SCOPE, READ_SCOPE};
use crate::state::AppState;
use crate::tokens::validate;

/// What a request needs to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Manage,
}

/// The receiver (client id) a request acts for.
pub async fn receiver(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    need: Need,
) -> Result<String, SsfError> {
    Ok(receiver_and_scope(state, headers, query, need).await?.0)
}

/// The receiver a request acts for, and whether its token may also manage
/// (`ssf.manage`), for a request that only needs `Need::Read` unless it
/// changes state (a poll that acknowledges).
pub async fn receiver_and_scope(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    need: Need,
) -> Result<(String, bool), SsfError> {
    // RFC 6750 §5.3: tokens in URLs leak into logs and histories; the
    // query-parameter method (§2.3) is refused outright.
    if let Some(query) = query
        && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Err(SsfError::BadRequest(
            "access tokens are accepted in the Authorization header only".into(),
        ));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(SsfError::NoToken);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SsfError::InvalidToken("expected a Bearer token".into()))?;
    let active = validate::access_token(state, token)
        .await?
        .ok_or_else(|| SsfError::InvalidToken("the access token is invalid or expired".into()))?;
    // RFC 9449 §7.2: a DPoP-bound token is worthless without its proof; the
    // feed takes bearer tokens only, so a bound one is refused, never
    // honoured as a bearer token.
    if active.jkt.is_some() {
        return Err(SsfError::InvalidToken(
            "a DPoP-bound token is not accepted here; use a bearer token".into(),
        ));
    }
    // The receiver is a client acting for itself (client_credentials), not
    // a user's application.
    if active.user.is_some() {
        return Err(SsfError::Forbidden(
            "stream management needs a client_credentials token".into(),
        ));
    }
    // RFC 8707 §2: a token minted for another resource is not for us.
    let ours = active
        .aud
        .as_deref()
        .is_none_or(|aud| aud == state.config.default_audience() || aud == active.client_id);
    if !ours {
        return Err(SsfError::InvalidToken(
            "the access token is for another audience".into(),
        ));
    }
    let allowed = match need {
        Need::Manage => active.scope.contains(MANAGE_SCOPE),
        Need::Read => active.scope.contains(MANAGE_SCOPE) || active.scope.contains(READ_SCOPE),
    };
    if !allowed {
        return Err(SsfError::Forbidden(
            match need {
                Need::Manage => "scope ssf.manage is required",
                Need::Read => "scope ssf.read or ssf.manage is required",
            }
            .into(),
        ));
    }
    let manage = active.scope.contains(MANAGE_SCOPE);
    Ok((active.client_id, manage))
}
