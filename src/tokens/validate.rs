//! Is this token still good? One answer for introspection (RFC 7662), the
//! UserInfo endpoint and revocation, whatever the token's format. Every check
//! reads the database, so a revocation, "log out everywhere" or disabled
//! account made by any instance or by the CLI counts from the next request.

use serde::Deserialize;

use super::access_token::{JWT_TYP, JwtAccessClaims, looks_like_jwt};
use super::liveness::outlives_cutoffs;
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::{self, Client};
use crate::store::users::{self, User};
use crate::store::{grants, revocations, sessions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Access,
    Refresh,
}

/// An active token and what RFC 7662 §2.2 says about it.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    pub token_type: TokenType,
    pub client_id: String,
    pub user: Option<User>,
    pub sub: String,
    pub scope: Scope,
    pub aud: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub grant_id: Option<String>,
}

/// The facts every token is checked against, whatever its format.
struct Subject<'a> {
    client_id: &'a str,
    user_id: Option<&'a str>,
    session_id: Option<&'a str>,
    grant_id: Option<&'a str>,
    issued_at: i64,
}

/// Who a live token belongs to.
struct Owners {
    user: Option<User>,
    /// The session the token follows now (its grant's current binding).
    session_id: Option<String>,
}

/// The user and session of a token, if neither they nor its client voided
/// it. `caller` is a client already read in this request (the introspecting
/// resource server): when the token is its own, the row is not read twice.
async fn owners_allow(
    state: &AppState,
    s: &Subject<'_>,
    caller: Option<&Client>,
) -> Result<Option<Owners>, sea_orm::DbErr> {
    let client = match caller {
        Some(c) if c.id == s.client_id => c.clone(),
        _ => match clients::find(&state.db, s.client_id).await? {
            Some(c) => c,
            None => return Ok(None),
        },
    };
    // "Revoke every token of this client" and disabled clients.
    if !outlives_cutoffs(s.issued_at, Some(&client), None) {
        return Ok(None);
    }
    let user = match s.user_id {
        None => None,
        Some(id) => match users::find(&state.db, id).await? {
            // "Log out everywhere" voids what was issued before it.
            Some(u) if outlives_cutoffs(s.issued_at, None, Some(&u)) => Some(u),
            _ => return Ok(None),
        },
    };
    // The grant's current binding decides which session a token follows: a
    // grant the client's logout policy keeps is detached from its session
    // when the session ends (session::end).
    let mut bound_session = s.session_id.map(str::to_owned);
    if let Some(gid) = s.grant_id {
        match grants::find_grant(&state.db, gid).await? {
            Some(g) if g.revoked_at.is_none() => bound_session = g.session_id,
            _ => return Ok(None),
        }
    }
    // A token bound to a session dies with it (session state strategy).
    if let Some(sid) = bound_session.as_deref() {
        match sessions::find(&state.db, sid).await? {
            Some(sess) if sess.ended_at.is_none() => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(Owners {
        user,
        session_id: bound_session,
    }))
}

pub async fn access_token(
    state: &AppState,
    token: &str,
    caller: Option<&Client>,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    if looks_like_jwt(token) {
        return jwt_access_token(state, token, caller).await;
    }
    let now = state.now();
    let Some(row) = grants::find_access_token(&state.db, &token_hash(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let subject = Subject {
        client_id: &row.client_id,
        user_id: row.user_id.as_deref(),
        session_id: row.session_id.as_deref(),
        grant_id: row.grant_id.as_deref(),
        issued_at: row.issued_at,
    };
    let Some(owners) = owners_allow(state, &subject, caller).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Access,
        sub: row.user_id.clone().unwrap_or_else(|| row.client_id.clone()),
        client_id: row.client_id,
        user: owners.user,
        scope: Scope::from_stored(&row.scope),
        aud: Some(row.audience).filter(|a| !a.is_empty()),
        iat: row.issued_at,
        exp: row.expires_at,
        jti: None,
        sid: row.session_id,
        grant_id: row.grant_id,
    }))
}

/// Verify a JWT access token of ours (RFC 9068 §4): signed by a published
/// key with `typ: at+jwt`, our `iss`, unexpired, not denylisted.
pub fn verified_jwt_claims(
    state: &AppState,
    token: &str,
    allow_expired: bool,
) -> Option<JwtAccessClaims> {
    let header = josekit::jwt::decode_header(token).ok()?;
    if header.claim("typ")?.as_str()? != JWT_TYP {
        return None;
    }
    let kid = header.claim("kid")?.as_str()?;
    // A removed (e.g. compromised) key is not in the store: its tokens fail.
    let key = state.keys.by_kid(kid)?;
    let (payload, _) = josekit::jws::deserialize_compact(token, key.verifier()).ok()?;
    let claims: JwtAccessClaims = serde_json::from_slice(&payload).ok()?;
    if claims.iss != state.config.issuer_str() {
        return None;
    }
    if !allow_expired && claims.exp <= state.now() {
        return None;
    }
    Some(claims)
}

async fn jwt_access_token(
    state: &AppState,
    token: &str,
    caller: Option<&Client>,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    let Some(claims) = verified_jwt_claims(state, token, false) else {
        return Ok(None);
    };
    if revocations::is_revoked(&state.db, &claims.jti).await? {
        return Ok(None);
    }
    // Tokens of a user always belong to a grant; client_credentials tokens
    // have none, and their `sub` is the client.
    let user_id = claims.gid.as_ref().map(|_| claims.sub.as_str());
    let subject = Subject {
        client_id: &claims.client_id,
        user_id,
        session_id: claims.sid.as_deref(),
        grant_id: claims.gid.as_deref(),
        issued_at: claims.iat,
    };
    let Some(owners) = owners_allow(state, &subject, caller).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Access,
        client_id: claims.client_id,
        user: owners.user,
        sub: claims.sub,
        scope: Scope::from_stored(&claims.scope),
        aud: Some(claims.aud),
        iat: claims.iat,
        exp: claims.exp,
        jti: Some(claims.jti),
        sid: claims.sid,
        grant_id: claims.gid,
    }))
}

pub async fn refresh_token(
    state: &AppState,
    token: &str,
    caller: Option<&Client>,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    let now = state.now();
    let Some(row) = grants::find_refresh_token(&state.db, &token_hash(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.consumed_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    // The session comes from the grant, which owners_allow reads anyway.
    let subject = Subject {
        client_id: &row.client_id,
        user_id: Some(&row.user_id),
        session_id: None,
        grant_id: Some(&row.grant_id),
        issued_at: row.issued_at,
    };
    let Some(owners) = owners_allow(state, &subject, caller).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Refresh,
        client_id: row.client_id,
        user: owners.user,
        sub: row.user_id,
        scope: Scope::from_stored(&row.scope),
        aud: None,
        iat: row.issued_at,
        exp: row.expires_at,
        jti: None,
        sid: owners.session_id,
        grant_id: Some(row.grant_id),
    }))
}

/// RFC 7662 §2.1 `token_type_hint`: where to look first. The hint is not
/// trusted: the other kind is tried too.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum Hint {
    Access,
    Refresh,
}

impl Hint {
    pub fn parse(v: Option<&str>) -> Hint {
        match v {
            Some("refresh_token") => Hint::Refresh,
            _ => Hint::Access,
        }
    }
}

pub async fn any_token(
    state: &AppState,
    token: &str,
    hint: Hint,
    caller: Option<&Client>,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    match hint {
        Hint::Access => match access_token(state, token, caller).await? {
            Some(t) => Ok(Some(t)),
            None => refresh_token(state, token, caller).await,
        },
        Hint::Refresh => match refresh_token(state, token, caller).await? {
            Some(t) => Ok(Some(t)),
            None => access_token(state, token, caller).await,
        },
    }
}
