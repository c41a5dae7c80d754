//! Is this token still good? One answer for introspection (RFC 7662), the
//! UserInfo endpoint and revocation, whatever the token's format. Whether a
//! revocation, "log out everywhere" or a disabled account voided it is asked
//! of this instance's revocation view (`crate::revocation`), not of the
//! user, client, grant and session rows: under the default eventual
//! consistency a change made by another instance or by the CLI counts here
//! within `revocation.poll_interval`; under `strict`, from the next request.

use serde::Deserialize;

use super::access_token::{JWT_TYP, JwtAccessClaims, looks_like_jwt};
use super::liveness::{IssuedUnder, TokenFacts};
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::grants;
use crate::store::users::{self, User};

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
    /// The token versions it was issued under (`ver` only with a user).
    pub issued_under: IssuedUnder,
    /// RFC 9449 §6: the thumbprint of the DPoP key the token is bound to.
    pub jkt: Option<String>,
}

impl ActiveToken {
    /// The user's token version the token carries, for a token of a user.
    pub fn ver(&self) -> Option<i64> {
        self.user.as_ref().map(|_| self.issued_under.user)
    }
}

/// The user a live token belongs to (`None` for a client's own token), read
/// for the claims and name it carries; a user that no longer exists voids it.
async fn owner(
    state: &AppState,
    user_id: Option<&str>,
) -> Result<Option<Option<User>>, sea_orm::DbErr> {
    match user_id {
        None => Ok(Some(None)),
        Some(id) => Ok(users::find(&state.db, id).await?.map(Some)),
    }
}

pub async fn access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    if looks_like_jwt(token) {
        return jwt_access_token(state, token).await;
    }
    let now = state.now();
    let hash = token_hash(token);
    let Some(row) = access_token_row(state, &hash, now).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let row = std::sync::Arc::unwrap_or_clone(row);
    let issued_under = IssuedUnder {
        user: row.user_version,
        client: row.client_version,
    };
    let facts = TokenFacts {
        client_id: &row.client_id,
        user_id: row.user_id.as_deref(),
        issued_under,
        grant_id: row.grant_id.as_deref(),
        jti: None,
        token_hash: Some(&hash),
        kid: None,
    };
    if !state.revocations.check(&facts).await? {
        return Ok(None);
    }
    let Some(user) = owner(state, row.user_id.as_deref()).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Access,
        sub: row.user_id.clone().unwrap_or_else(|| row.client_id.clone()),
        client_id: row.client_id,
        user,
        scope: Scope::from_stored(&row.scope),
        aud: Some(row.audience).filter(|a| !a.is_empty()),
        iat: row.issued_at,
        exp: row.expires_at,
        jti: None,
        // The grant's current binding: a grant that outlived its session
        // (the client's logout policy) no longer names it.
        sid: row.session_id,
        grant_id: row.grant_id,
        issued_under,
        jkt: row.jkt,
    }))
}

/// An opaque access token's row: from the view's cache of immutable rows
/// (`store::token_cache`), else one primary-key read that fills it. Whether
/// the token still lives is asked of the view afterwards, never of the row
/// alone.
async fn access_token_row(
    state: &AppState,
    hash: &str,
    now: i64,
) -> Result<Option<std::sync::Arc<grants::AccessTokenRecord>>, sea_orm::DbErr> {
    let cache = state.revocations.token_rows();
    if let Some(row) = cache.get(hash, now) {
        return Ok(Some(row));
    }
    let seen = cache.generation();
    let Some(row) = grants::find_access_token(&state.db, hash).await? else {
        return Ok(None);
    };
    cache.insert(seen, &row, now);
    Ok(Some(std::sync::Arc::new(row)))
}

/// A verified JWT access token of ours, and the key that signed it.
pub struct VerifiedJwt {
    pub claims: JwtAccessClaims,
    pub kid: String,
}

/// Verify a JWT access token of ours (RFC 9068 §4): signed by a published
/// key with `typ: at+jwt`, our `iss`, unexpired, not denylisted.
pub fn verified_jwt(state: &AppState, token: &str, allow_expired: bool) -> Option<VerifiedJwt> {
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
    Some(VerifiedJwt {
        claims,
        kid: kid.to_owned(),
    })
}

async fn jwt_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    let Some(VerifiedJwt { claims, kid }) = verified_jwt(state, token, false) else {
        return Ok(None);
    };
    let user_id = claims.user_id();
    let issued_under = claims.issued_under();
    let facts = TokenFacts {
        client_id: &claims.client_id,
        user_id,
        issued_under,
        grant_id: claims.gid.as_deref(),
        jti: Some(&claims.jti),
        token_hash: None,
        kid: Some(&kid),
    };
    if !state.revocations.check(&facts).await? {
        return Ok(None);
    }
    let Some(user) = owner(state, user_id).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Access,
        client_id: claims.client_id,
        user,
        sub: claims.sub,
        scope: Scope::from_stored(&claims.scope),
        aud: Some(claims.aud),
        iat: claims.iat,
        exp: claims.exp,
        jti: Some(claims.jti),
        sid: claims.sid,
        grant_id: claims.gid,
        issued_under,
        jkt: claims.cnf.map(|c| c.jkt),
    }))
}

pub async fn refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    let now = state.now();
    let Some(row) = grants::find_refresh_token(&state.db, &token_hash(token)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || row.consumed_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    let issued_under = IssuedUnder {
        user: row.user_version,
        client: row.client_version,
    };
    let facts = TokenFacts {
        client_id: &row.client_id,
        user_id: Some(&row.user_id),
        issued_under,
        grant_id: Some(&row.grant_id),
        jti: None,
        token_hash: None,
        kid: None,
    };
    if !state.revocations.check(&facts).await? {
        return Ok(None);
    }
    // A refresh token lives far longer than the view keeps a revoked grant,
    // and its session is the grant's current one: the grant row answers both.
    let Some(grant) = grants::find_grant(&state.db, &row.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
    else {
        return Ok(None);
    };
    let Some(user) = owner(state, Some(&row.user_id)).await? else {
        return Ok(None);
    };
    Ok(Some(ActiveToken {
        token_type: TokenType::Refresh,
        client_id: row.client_id,
        user,
        sub: row.user_id,
        scope: Scope::from_stored(&row.scope),
        aud: None,
        iat: row.issued_at,
        exp: row.expires_at,
        jti: None,
        sid: grant.session_id,
        grant_id: Some(row.grant_id),
        issued_under,
        jkt: row.jkt,
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
) -> Result<Option<ActiveToken>, sea_orm::DbErr> {
    match hint {
        Hint::Access => match access_token(state, token).await? {
            Some(t) => Ok(Some(t)),
            None => refresh_token(state, token).await,
        },
        Hint::Refresh => match refresh_token(state, token).await? {
            Some(t) => Ok(Some(t)),
            None => access_token(state, token).await,
        },
    }
}
