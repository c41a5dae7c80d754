//! Access tokens in the client's chosen format: self-contained JWTs (RFC
//! 9068), valid until they expire unless denylisted, or opaque random values
//! (stored hashed) that are valid only through the database.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::error::OAuthError;
use crate::random::{Random, identifier, secret_token};
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::{AccessTokenFormat, Client};
use crate::store::grants::{self, AccessTokenRecord};
use crate::tokens::liveness::IssuedUnder;

/// What an access token says, in either format.
pub struct NewAccessToken<'a> {
    pub grant_id: Option<&'a str>,
    pub client: &'a Client,
    /// The user, or `None` when the client acts for itself.
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub scope: &'a Scope,
    pub audience: &'a str,
    pub auth_time: Option<i64>,
    pub now: i64,
    pub ttl: i64,
    /// The user's and the client's token versions the token is issued under
    /// (checked by the caller just before).
    pub issued_under: IssuedUnder,
    /// RFC 9449 §6: the thumbprint of the DPoP key the token is bound to.
    pub jkt: Option<&'a str>,
}

/// RFC 9068 §2.2 claims, plus `gid` (the grant, so that revoking a refresh
/// token family also voids the JWTs issued from it) and the token versions
/// `ver` (the user's; absent without a user) and `cver` (the client's), so
/// that a resource server can match "log out everywhere" and "revoke every
/// token of this client" (docs/revocation.md). Tokens issued before versions
/// existed carry neither and count as version 0.
#[derive(Debug, Serialize, Deserialize)]
pub struct JwtAccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    #[serde(default)]
    pub cver: i64,
    /// RFC 9449 §6.1 (RFC 7800 §3.1): the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 §3.1 `cnf`, with RFC 9449 §6.1's `jkt` member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl JwtAccessClaims {
    /// The user the token was issued to: tokens of a user always belong to
    /// a grant; client_credentials tokens have none, and their `sub` is the
    /// client.
    pub fn user_id(&self) -> Option<&str> {
        self.gid.as_ref().map(|_| self.sub.as_str())
    }

    pub fn issued_under(&self) -> IssuedUnder {
        IssuedUnder {
            user: self.ver.unwrap_or(0),
            client: self.cver,
        }
    }
}

/// RFC 6749 §7.1 `token_type` of an access token: `DPoP` when it is bound
/// to a key (RFC 9449 §5), else `Bearer` (RFC 6750).
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// RFC 9068 §2.1: the `typ` header of JWT access tokens.
pub const JWT_TYP: &str = "at+jwt";

pub async fn issue(
    state: &AppState,
    db: &impl ConnectionTrait,
    t: NewAccessToken<'_>,
) -> Result<String, OAuthError> {
    let (token, row) = mint(state, &t)?;
    if let Some(row) = row {
        grants::insert_access_token(db, row).await?;
    }
    Ok(token)
}

/// The token, and for an opaque one the row that makes it valid. Signing
/// happens here, with no database work, so callers can do it before they
/// take a write lock.
pub fn mint(
    state: &AppState,
    t: &NewAccessToken<'_>,
) -> Result<(String, Option<AccessTokenRecord>), OAuthError> {
    match t.client.access_token_format {
        AccessTokenFormat::Jwt => Ok((issue_jwt(state, t)?, None)),
        AccessTokenFormat::Opaque => {
            let (token, row) = opaque(state.rng.as_ref(), t);
            Ok((token, Some(row)))
        }
    }
}

fn issue_jwt(state: &AppState, t: &NewAccessToken<'_>) -> Result<String, OAuthError> {
    let alg = state.config.keys.default_alg;
    let key = state
        .keys
        .signer(alg, t.now)
        .ok_or_else(|| OAuthError::Internal(anyhow::anyhow!("no {alg} signing key is active")))?;
    let claims = JwtAccessClaims {
        iss: state.config.issuer_str().to_owned(),
        // RFC 9068 §2.2: without a resource owner, `sub` names the client.
        sub: t.user_id.unwrap_or(&t.client.id).to_owned(),
        aud: t.audience.to_owned(),
        exp: t.now + t.ttl,
        iat: t.now,
        jti: identifier(state.rng.as_ref()),
        client_id: t.client.id.clone(),
        scope: t.scope.to_string(),
        auth_time: t.auth_time,
        sid: t.session_id.map(str::to_owned),
        gid: t.grant_id.map(str::to_owned),
        ver: t.user_id.map(|_| t.issued_under.user),
        cver: t.issued_under.client,
        cnf: t.jkt.map(|jkt| Confirmation {
            jkt: jkt.to_owned(),
        }),
    };
    Ok(key.sign(JWT_TYP, &claims)?)
}

fn opaque(rng: &dyn Random, t: &NewAccessToken<'_>) -> (String, AccessTokenRecord) {
    let token = secret_token(rng);
    let row = AccessTokenRecord {
        token_hash: token_hash(&token),
        grant_id: t.grant_id.map(Into::into),
        client_id: t.client.id.clone(),
        user_id: t.user_id.map(Into::into),
        session_id: t.session_id.map(Into::into),
        scope: t.scope.to_string(),
        issued_at: t.now,
        expires_at: t.now + t.ttl,
        revoked_at: None,
        audience: t.audience.into(),
        auth_time: t.auth_time,
        user_version: t.issued_under.user,
        client_version: t.issued_under.client,
        jkt: t.jkt.map(Into::into),
    };
    (token, row)
}

/// A compact JWS has exactly three dot-separated parts; our opaque tokens
/// are base64url and never contain a dot.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}
