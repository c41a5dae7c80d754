//! Redeeming a one-time grant: an authorization code (RFC 6749 §4.1.3) or
//! an approved device code (RFC 8628 §3.5). One rule for both: the grant
//! must still stand, for a user and a session that still count; everything
//! is checked and signed before the write transaction, which consumes the
//! one-time value first (exactly one redemption wins), re-checks the grant
//! and stores the new tokens.

use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::issue::{self, Lifetimes, TokenResponse, UserGrant};
use crate::error::OAuthError;
use crate::scope::Scope;
use crate::session;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants;
use crate::tokens::liveness::Standing;

/// What is being redeemed, and how its refusals read.
pub struct Redeemable<'a> {
    pub client: &'a Client,
    pub grant_id: &'a str,
    /// OpenID Core §3.1.3.6: the authorization request's nonce, if any.
    pub nonce: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub dpop: Option<&'a str>,
    /// The one answer for an invalid, used or foreign value: a client
    /// learns nothing about values that are not its own.
    pub invalid: fn() -> OAuthError,
    /// Said when the session the grant was made in has ended.
    pub session_ended: &'static str,
}

pub enum Redeemed {
    Tokens(TokenResponse),
    /// `consume` found the value used already (or gone): nothing was
    /// written, and the caller decides what a second use means.
    NotConsumed,
}

/// Redeem `r`. `consume` runs first in the write transaction and says
/// whether this request took the one-time value.
pub async fn redeem_grant(
    state: &AppState,
    r: Redeemable<'_>,
    consume: impl AsyncFnOnce(&DatabaseTransaction) -> Result<bool, OAuthError>,
) -> Result<Redeemed, OAuthError> {
    let now = state.now();
    let client = r.client;
    let grant = grants::find_grant(&state.db, r.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(r.invalid)?;
    // "Log out everywhere", "revoke every token of this client" and disabling
    // void an authorization made before them, and so its code (RFC 6749
    // §4.1.3: the code must be valid): the grant records the versions it was
    // made under. The client row is this request's.
    if !Standing::of_client(client).admits(grant.client_version) {
        return Err((r.invalid)());
    }
    let user_id = grant.user_id.as_deref().ok_or_else(r.invalid)?;
    // OpenID Core §3.1.3.3 and Back-Channel Logout §2.7: the ID token
    // vouches for a login in a live session. A session that ended after the
    // grant was made (the grant then lost the session, or kept it while the
    // sweep had not run) yields nothing, whatever the client's logout policy
    // let the grant keep. The session and its user are one read.
    let live = match grant.session_id.as_deref() {
        Some(sid) => session::live(state, sid).await?,
        None => None,
    };
    let Some(active) = live else {
        tracing::info!(client_id = %client.id, grant_id = %grant.id, "grant of an ended session");
        return Err(OAuthError::InvalidGrant(r.session_ended.into()));
    };
    let user = &active.user;
    if user.id != user_id || !Standing::of_user(user).admits(grant.user_version) {
        return Err(OAuthError::InvalidGrant(
            "the user is no longer active".into(),
        ));
    }
    let audience = issue::audience(&state.config, client, r.resource)?;
    let scope = Scope::from_stored(&grant.scope);
    let refresh_expires_at = issue::offers_refresh(client, &scope)
        .then(|| Lifetimes::of(state, client).refresh_expiry(now, grant.created_at));
    let minted = issue::mint_user_tokens(
        state,
        UserGrant {
            client,
            grant: &grant,
            user,
            scope: &scope,
            audience: &audience,
            nonce: r.nonce,
            refresh_expires_at,
            dpop: r.dpop,
        },
    )?;

    let txn = state.db.begin().await?;
    // The conditional UPDATE is the first statement: it takes the write lock
    // before the transaction reads, and exactly one redemption wins.
    if !consume(&txn).await? {
        return Ok(Redeemed::NotConsumed);
    }
    // The grant may have been revoked while we were signing: a logout that
    // ended the session meanwhile revoked the grant or took the session
    // from it.
    let still_valid = grants::find_grant(&txn, &grant.id)
        .await?
        .is_some_and(|g| g.revoked_at.is_none() && g.session_id.is_some());
    if !still_valid {
        return Err((r.invalid)());
    }
    let response = minted.persist(&txn).await?;
    txn.commit().await?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "grant redeemed");
    Ok(Redeemed::Tokens(response))
}
