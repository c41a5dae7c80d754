//! The refresh_token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): every refresh consumes the presented token; presenting
//! a consumed one revokes the whole family, except within a short grace
//! period where the same successor is returned (concurrent tabs, retries).

use sea_orm::{DatabaseTransaction, DbErr};

use super::issue::{self, Lifetimes, Minted, TokenResponse, UserGrant};
use crate::error::OAuthError;
use crate::revocation::{self, GrantReason, Initiator};
use crate::scope::Scope;
use crate::secrets::token_hash;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, RefreshTokenRecord};
use crate::store::group_commit::AfterCommit;
use crate::store::users;
use crate::tokens::liveness::Standing;
use crate::tokens::refresh_token::{open_successor, seal_successor};

fn bad_token() -> OAuthError {
    OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into())
}

pub async fn refresh(
    state: &AppState,
    client: &Client,
    presented: &str,
    scope: Option<&str>,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let hash = token_hash(presented);
    let Some(row) = grants::find_refresh_token(&state.db, &hash).await? else {
        return Err(bad_token());
    };
    // RFC 6749 §6: the token is bound to the client it was issued to; another
    // client's attempt neither consumes nor revokes anything.
    if row.client_id != client.id {
        tracing::warn!(client_id = %client.id, "client presented another client's refresh token");
        return Err(bad_token());
    }
    // RFC 9449 §5: a token bound to a key is used only with a proof by that
    // key. Checked before the token is consumed or its reuse judged: whoever
    // holds a copy without the key gets nothing, and cannot revoke the
    // family either (which would lock the holder of the key out).
    if let Some(bound) = row.jkt.as_deref()
        && dpop != Some(bound)
    {
        tracing::warn!(
            security_event = "dpop_refresh_key_mismatch",
            client_id = %client.id,
            grant_id = %row.grant_id,
            "refresh token presented without a proof by its DPoP key"
        );
        return Err(OAuthError::InvalidGrant(
            "the refresh token is bound to another DPoP key".into(),
        ));
    }
    if row.consumed_at.is_some() {
        // The reuse check reads, then may revoke: in a write transaction.
        let (s, c, p) = (state.clone(), client.clone(), presented.to_owned());
        let outcome = state
            .commits
            .run_then(move |txn| Box::pin(async move { judge_reuse(&s, txn, &c, &p, row).await }))
            .await?;
        return outcome.answer(client);
    }
    // Check and sign first; the write below then only consumes the token
    // and stores the new rows, so the committer (SQLite's single writer) is
    // never held while a signature is made. Errors so far changed nothing.
    let (grant_id, minted) = prepare(state, client, &row, scope, resource, dpop).await?;
    let successor = match (
        &minted.response.refresh_token,
        state.config.tokens.refresh_reuse_grace.as_secs(),
    ) {
        (Some(successor), grace) if grace > 0 => {
            let plaintext = serde_json::to_vec(&minted.response).map_err(anyhow::Error::from)?;
            Some((
                token_hash(successor),
                seal_successor(presented, &plaintext, state.rng.as_ref())?,
            ))
        }
        _ => None,
    };
    let (s, c, p) = (state.clone(), client.clone(), presented.to_owned());
    let outcome = state
        .commits
        .run_then(move |txn| {
            Box::pin(async move {
                let rotation = Rotation {
                    hash,
                    grant_id,
                    minted,
                    successor,
                };
                rotate(&s, txn, &c, &p, rotation).await
            })
        })
        .await?;
    outcome.answer(client)
}

/// A signed rotation waiting for its write.
struct Rotation {
    hash: String,
    grant_id: String,
    minted: Minted,
    /// The successor's hash and the response sealed for a retry.
    successor: Option<(String, String)>,
}

/// What the write found.
enum Outcome {
    Rotated {
        grant_id: String,
        response: TokenResponse,
    },
    /// Retried within the grace period: the same successor pair.
    Retried {
        grant_id: String,
        response: TokenResponse,
    },
    /// Reused: the family is revoked.
    Reused {
        grant_id: String,
    },
    Refused,
}

impl Outcome {
    fn answer(self, client: &Client) -> Result<TokenResponse, OAuthError> {
        match self {
            Outcome::Rotated { grant_id, response } => {
                tracing::info!(client_id = %client.id, grant_id = %grant_id, "refresh token rotated");
                Ok(response)
            }
            Outcome::Retried { grant_id, response } => {
                tracing::info!(client_id = %client.id, grant_id = %grant_id, "refresh retried within the grace period; same successor returned");
                Ok(response)
            }
            Outcome::Reused { grant_id } => {
                tracing::warn!(
                    security_event = "refresh_token_reuse",
                    client_id = %client.id,
                    grant_id = %grant_id,
                    "refresh token reuse detected; token family revoked"
                );
                Err(bad_token())
            }
            Outcome::Refused => Err(bad_token()),
        }
    }
}

/// The rotation's write, in a group commit's transaction.
async fn rotate(
    state: &AppState,
    txn: &DatabaseTransaction,
    client: &Client,
    presented: &str,
    r: Rotation,
) -> Result<(Outcome, Option<AfterCommit>), DbErr> {
    let now = state.now();
    // One statement when the rotation succeeds: the token is consumed (and
    // its successor recorded) only if neither it nor its grant was revoked
    // while we were signing (a logout, a revocation). Of concurrent
    // rotations, in one batch or not, exactly one wins.
    let successor = r.successor.as_ref().map(|(h, s)| (h.as_str(), s.as_str()));
    if !grants::consume_live_refresh_token(txn, &r.hash, &r.grant_id, now, successor).await? {
        // Nothing changed: why?
        return match grants::find_refresh_token(txn, &r.hash).await? {
            Some(row) if row.consumed_at.is_some() => {
                judge_reuse(state, txn, client, presented, row).await
            }
            // Unknown (pruned), or revoked with its grant meanwhile.
            _ => Ok((Outcome::Refused, None)),
        };
    }
    let response = r.minted.persist(txn).await?;
    let rotated = Outcome::Rotated {
        grant_id: r.grant_id,
        response,
    };
    Ok((rotated, None))
}

/// Everything a rotation checks, and the new tokens, signed but not stored.
async fn prepare(
    state: &AppState,
    client: &Client,
    row: &RefreshTokenRecord,
    scope: Option<&str>,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<(String, Minted), OAuthError> {
    let now = state.now();
    if row.revoked_at.is_some()
        || row.expires_at <= now
        || !Standing::of_client(client).admits(row.client_version)
    {
        return Err(bad_token());
    }
    let grant = grants::find_grant(&state.db, &row.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(bad_token)?;
    // The user must still be allowed in, and not logged out everywhere since.
    let user = users::find(&state.db, &row.user_id)
        .await?
        .filter(|u| Standing::of_user(u).admits(row.user_version))
        .ok_or_else(bad_token)?;
    // Session state: tokens of an ended session are over. Ending a session
    // revokes or detaches its grants; this catches a grant that was bound to
    // it while it ended.
    if let Some(sid) = &grant.session_id {
        state.revocations.ready().await?;
        if state.revocations.session_ended(sid) {
            return Err(bad_token());
        }
    }
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let granted = Scope::from_stored(&grant.scope);
    let scope = match scope {
        None => Scope::from_stored(&row.scope),
        Some(requested) => {
            // RFC 6749 §3.3: a scope is at least one well-formed scope token.
            let requested = Scope::parse(requested)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| OAuthError::InvalidScope("the scope is malformed".into()))?;
            if let Some(extra) = requested.first_outside(&granted) {
                return Err(OAuthError::InvalidScope(
                    format!("scope {extra} was not granted").into(),
                ));
            }
            requested
        }
    };
    let audience = issue::audience(&state.config, client, resource)?;
    let lifetimes = Lifetimes::of(state, client);
    let minted = issue::mint_user_tokens(
        state,
        UserGrant {
            client,
            grant: &grant,
            user: &user,
            scope: &scope,
            audience: &audience,
            nonce: None,
            refresh_expires_at: Some(lifetimes.refresh_expiry(now, grant.created_at)),
            dpop,
        },
    )?;
    Ok((grant.id, minted))
}

/// A consumed token presented again: the same successor within the grace
/// period, else the family is revoked (in the caller's transaction; the
/// events count once it committed).
async fn judge_reuse(
    state: &AppState,
    txn: &DatabaseTransaction,
    client: &Client,
    presented: &str,
    row: RefreshTokenRecord,
) -> Result<(Outcome, Option<AfterCommit>), DbErr> {
    let now = state.now();
    if row.client_id != client.id {
        tracing::warn!(client_id = %client.id, "client presented another client's refresh token");
        return Ok((Outcome::Refused, None));
    }
    if let Some(response) = within_grace(state, txn, client, presented, &row, now).await? {
        let grant_id = row.grant_id;
        return Ok((Outcome::Retried { grant_id, response }, None));
    }
    // RFC 9700 §4.14.2: a rotated token used again means two parties hold
    // it; revoke the family so the thief's copy dies with the victim's.
    let mut tx = revocation::Transaction::in_batch(state.revoker(), txn);
    tx.revoke_grant(&row.grant_id, GrantReason::ReuseDetected, Initiator::Policy)
        .await?;
    let written = tx.finish().await?;
    let reused = Outcome::Reused {
        grant_id: row.grant_id,
    };
    Ok((reused, written.after_commit()))
}

/// The successor pair, if the token was rotated moments ago and its successor
/// has not been used or revoked since.
async fn within_grace(
    state: &AppState,
    txn: &DatabaseTransaction,
    client: &Client,
    presented: &str,
    row: &RefreshTokenRecord,
    now: i64,
) -> Result<Option<TokenResponse>, DbErr> {
    let grace = state.config.tokens.refresh_reuse_grace.as_secs() as i64;
    let (Some(consumed_at), Some(successor_hash), Some(sealed)) =
        (row.consumed_at, &row.successor_hash, &row.successor_sealed)
    else {
        return Ok(None);
    };
    // The successor pair shares the consumed token's fate: nothing voided
    // since the rotation ("revoke every token of this client") is handed out.
    if grace == 0
        || row.revoked_at.is_some()
        || now - consumed_at > grace
        || !Standing::of_client(client).admits(row.client_version)
    {
        return Ok(None);
    }
    let successor = grants::find_refresh_token(txn, successor_hash).await?;
    let successor_fresh =
        successor.is_some_and(|s| s.consumed_at.is_none() && s.revoked_at.is_none());
    if !successor_fresh {
        return Ok(None);
    }
    // The user may have been disabled or logged out everywhere meanwhile.
    let user_ok = users::find(txn, &row.user_id)
        .await?
        .is_some_and(|u| Standing::of_user(&u).admits(row.user_version));
    if !user_ok {
        return Ok(None);
    }
    Ok(open_successor(presented, sealed).and_then(|p| serde_json::from_slice(&p).ok()))
}
