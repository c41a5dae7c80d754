//! Opaque access tokens: 256 random bits handed to the client, only their
//! SHA-256 stored, valid while their row says so.

use sea_orm::ConnectionTrait;

use crate::random::{Random, secret_token};
use crate::secrets::token_hash;
use crate::store::grants::{self, AccessTokenRecord};

pub struct NewAccessToken<'a> {
    pub grant_id: Option<&'a str>,
    pub client_id: &'a str,
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub scope: &'a str,
    pub now: i64,
    pub ttl: i64,
}

pub async fn issue_opaque(
    db: &impl ConnectionTrait,
    rng: &dyn Random,
    t: NewAccessToken<'_>,
) -> Result<String, sea_orm::DbErr> {
    let token = secret_token(rng);
    grants::insert_access_token(
        db,
        AccessTokenRecord {
            token_hash: token_hash(&token),
            grant_id: t.grant_id.map(Into::into),
            client_id: t.client_id.into(),
            user_id: t.user_id.map(Into::into),
            session_id: t.session_id.map(Into::into),
            scope: t.scope.into(),
            issued_at: t.now,
            expires_at: t.now + t.ttl,
            revoked_at: None,
        },
    )
    .await?;
    Ok(token)
}
