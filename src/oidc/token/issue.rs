//! Minting the token response shared by the code and refresh grants.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::OAuthError;
use crate::grant_type::GrantType;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, AccessTokenRecord, Grant, RefreshTokenRecord};
use crate::store::users::User;
use crate::tokens::access_token::{self, NewAccessToken};
use crate::tokens::claims::user_claims;
use crate::tokens::id_token::{self, IdTokenClaims};
use crate::tokens::liveness::IssuedUnder;
use crate::tokens::refresh_token::{self, NewRefreshToken};

/// RFC 6749 §5.1 successful response (plus OpenID Core §3.1.3.3 `id_token`).
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Lifetimes for one client: its own settings, else the global defaults.
pub struct Lifetimes {
    pub access: i64,
    pub refresh_idle: i64,
    pub refresh_absolute: i64,
}

impl Lifetimes {
    pub fn of(state: &AppState, client: &Client) -> Self {
        let t = &state.config.tokens;
        Lifetimes {
            access: client
                .access_token_ttl
                .unwrap_or(t.access_token_ttl.as_secs() as i64),
            refresh_idle: client
                .refresh_token_idle_ttl
                .unwrap_or(t.refresh_token_idle_ttl.as_secs() as i64),
            refresh_absolute: client
                .refresh_token_absolute_ttl
                .unwrap_or(t.refresh_token_absolute_ttl.as_secs() as i64),
        }
    }

    /// Sliding expiry: each use extends the idle lifetime, never past the
    /// absolute lifetime counted from the grant.
    pub fn refresh_expiry(&self, now: i64, grant_created_at: i64) -> i64 {
        (now + self.refresh_idle).min(grant_created_at + self.refresh_absolute)
    }
}

/// The `aud` of an access token: the `resource` asked for (RFC 8707 §2),
/// which must be registered for the client or be this service itself
/// (`/userinfo`), else the client's first registered audience, else this
/// service (`tokens.default_audience`, by default the issuer). Never the
/// client id: an access token must not look like an ID token (RFC 9068 §5).
pub fn audience(
    config: &Config,
    client: &Client,
    resource: Option<&str>,
) -> Result<String, OAuthError> {
    let ours = config.default_audience();
    match resource {
        Some(r) if r == ours || client.audiences.iter().any(|a| a == r) => Ok(r.to_owned()),
        Some(r) => Err(OAuthError::InvalidTarget(
            format!("resource {r} is not registered for this client").into(),
        )),
        None => Ok(client
            .audiences
            .first()
            .cloned()
            .unwrap_or_else(|| ours.to_owned())),
    }
}

pub struct UserGrant<'a> {
    pub client: &'a Client,
    pub grant: &'a Grant,
    pub user: &'a User,
    /// The scope of the new tokens (never wider than the grant's).
    pub scope: &'a Scope,
    pub audience: &'a str,
    pub nonce: Option<&'a str>,
    /// Hand out a refresh token expiring then, if any.
    pub refresh_expires_at: Option<i64>,
    /// The key of the request's DPoP proof, if any (RFC 9449 §5).
    pub dpop: Option<&'a str>,
}

/// A token response whose signatures are made but whose rows are not yet
/// stored. Minting needs no database, so the grants sign before they take the
/// write lock, and SQLite's single writer is never held during RSA signing.
pub struct Minted {
    pub response: TokenResponse,
    access_row: Option<AccessTokenRecord>,
    refresh_row: Option<RefreshTokenRecord>,
}

impl Minted {
    /// Store what makes the minted tokens valid (inside the caller's
    /// transaction).
    pub async fn persist(self, db: &impl ConnectionTrait) -> Result<TokenResponse, sea_orm::DbErr> {
        if let Some(row) = self.access_row {
            grants::insert_access_token(db, row).await?;
        }
        if let Some(row) = self.refresh_row {
            grants::insert_refresh_token(db, row).await?;
        }
        Ok(self.response)
    }
}

/// Access token, refresh token (when offline access was granted) and ID token
/// (when `openid` was granted) for a user's grant.
pub fn mint_user_tokens(state: &AppState, g: UserGrant<'_>) -> Result<Minted, OAuthError> {
    let now = state.now();
    let ttl = Lifetimes::of(state, g.client).access;
    // The versions the caller just checked the grant against: if either
    // moves before the tokens are stored, they are void (tokens::liveness).
    let issued_under = IssuedUnder {
        user: g.user.token_version,
        client: g.client.token_version,
    };
    let (access_token, access_row) = access_token::mint(
        state,
        &NewAccessToken {
            grant_id: Some(&g.grant.id),
            client: g.client,
            user_id: Some(&g.user.id),
            session_id: g.grant.session_id.as_deref(),
            scope: g.scope,
            audience: g.audience,
            auth_time: g.grant.auth_time,
            now,
            ttl,
            issued_under,
            jkt: g.dpop,
        },
    )?;
    let (refresh_token, refresh_row) = match g.refresh_expires_at {
        Some(expires_at) => {
            let (token, row) = refresh_token::mint(
                state.rng.as_ref(),
                NewRefreshToken {
                    grant_id: &g.grant.id,
                    client_id: &g.client.id,
                    user_id: &g.user.id,
                    scope: &g.grant.scope,
                    now,
                    expires_at,
                    issued_under,
                    // RFC 9449 §5: a public client's refresh token is bound
                    // to its key; a confidential client's is bound to the
                    // client by its authentication.
                    jkt: refresh_binding(g.client, g.dpop),
                },
            );
            (Some(token), Some(row))
        }
        None => (None, None),
    };
    let id_token = if g.scope.contains("openid") {
        let alg = g.client.id_token_alg;
        let key = state.keys.signer(alg, now).ok_or_else(|| {
            OAuthError::Internal(anyhow::anyhow!("no {alg} signing key is active"))
        })?;
        let claims = IdTokenClaims {
            iss: state.config.issuer_str(),
            sub: &g.user.id,
            aud: &g.client.id,
            exp: now + state.config.tokens.id_token_ttl.as_secs() as i64,
            iat: now,
            auth_time: g.grant.auth_time,
            nonce: g.nonce,
            at_hash: Some(alg.half_hash(&access_token)),
            sid: g.grant.session_id.as_deref(),
            azp: &g.client.id,
            amr: Some(vec!["pwd"]),
            user_claims: user_claims(g.user, g.scope),
        };
        Some(id_token::sign(&key, &claims)?)
    } else {
        None
    };
    Ok(Minted {
        response: TokenResponse {
            access_token,
            token_type: access_token::token_type(g.dpop).into(),
            expires_in: ttl,
            scope: g.scope.to_string(),
            refresh_token,
            id_token,
        },
        access_row,
        refresh_row,
    })
}

/// RFC 9449 §5: the key a new refresh token is bound to: the proof's, for a
/// public client only.
pub fn refresh_binding<'a>(client: &Client, dpop: Option<&'a str>) -> Option<&'a str> {
    dpop.filter(|_| client.is_public())
}

/// Whether the grant's scope earns a refresh token (OpenID Core §11).
pub fn offers_refresh(client: &Client, scope: &Scope) -> bool {
    client.allows_grant(GrantType::RefreshToken) && scope.contains("offline_access")
}
