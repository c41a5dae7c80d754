//! Refresh tokens: opaque, stored hashed, one-time use (rotated on every
//! refresh), all tokens of one grant forming a family.

use sea_orm::ConnectionTrait;

use crate::random::{Random, secret_token};
use crate::secrets::token_hash;
use crate::store::grants::{self, RefreshTokenRecord};

pub struct NewRefreshToken<'a> {
    pub grant_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub scope: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn issue(
    db: &impl ConnectionTrait,
    rng: &dyn Random,
    t: NewRefreshToken<'_>,
) -> Result<String, sea_orm::DbErr> {
    let token = secret_token(rng);
    grants::insert_refresh_token(
        db,
        RefreshTokenRecord {
            token_hash: token_hash(&token),
            grant_id: t.grant_id.into(),
            client_id: t.client_id.into(),
            user_id: t.user_id.into(),
            scope: t.scope.into(),
            issued_at: t.now,
            expires_at: t.expires_at,
            consumed_at: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok(token)
}
