//! Revocation by administrators: "log out everywhere" for a user and "revoke
//! every token" for a client. Both move a validity watermark in the user or
//! client row; every token and session check reads that row, so the effect
//! is immediate on every instance, whoever made the change.

use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};

use crate::random::Random;
use crate::session::end::{EndReason, end_all_of_user};
use crate::store::{clients, users};

/// The watermark is one second past now: whole-second `iat`s issued in this
/// very second, before the change, must not survive it.
fn watermark(now: i64) -> i64 {
    now + 1
}

/// Void every session and token of `username` issued so far. The sessions
/// end through `session::end`, so their relying parties are notified.
pub async fn logout_everywhere(
    db: &(impl ConnectionTrait + TransactionTrait),
    rng: &dyn Random,
    username: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let Some(user) = users::find_by_username(db, username).await? else {
        return Ok(false);
    };
    users::void_tokens_before(db, &user.id, watermark(now)).await?;
    end_all_of_user(db, rng, &user.id, EndReason::LogoutEverywhere, now).await?;
    tracing::info!(sub = %user.id, "user logged out everywhere");
    Ok(true)
}

/// Void every token issued to `client_id` so far.
pub async fn client_tokens(
    db: &impl ConnectionTrait,
    client_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let found = clients::void_tokens_before(db, client_id, watermark(now)).await?;
    if found {
        tracing::info!(client_id, "every token of the client voided");
    }
    Ok(found)
}
