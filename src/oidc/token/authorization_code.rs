//! The authorization_code grant (RFC 6749 §4.1.3, OpenID Core §3.1.3.2,
//! RFC 7636 §4.6).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::TransactionTrait;

use super::issue::{self, Lifetimes, TokenResponse, UserGrant};
use crate::error::OAuthError;
use crate::revocation::{self, GrantReason, Initiator};
use crate::scope::Scope;
use crate::secrets::{constant_time_eq, token_hash};
use crate::session;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, Redemption};
use crate::store::users;
use crate::tokens::liveness::Standing;

fn bad_code() -> OAuthError {
    // The same words for unknown, expired, used and foreign codes: a client
    // learns nothing about codes that are not its own.
    OAuthError::InvalidGrant("the authorization code is invalid, expired or already used".into())
}

pub async fn exchange(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    resource: Option<&str>,
    dpop: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.now();
    let hash = token_hash(code);
    // Everything is checked and signed before the write transaction, which
    // then only consumes the code and stores the new rows: SQLite's single
    // writer is never held while an RSA signature is made.
    let Some(row) = grants::find_code(&state.db, &hash).await? else {
        return Err(bad_code());
    };
    // Codes are bound to their client (RFC 6749 §4.1.3). Another client's
    // attempt must not burn the code, so the owner is checked before the
    // code is consumed.
    if row.client_id != client.id {
        tracing::warn!(client_id = %client.id, "client presented another client's authorization code");
        return Err(bad_code());
    }
    if row.consumed_at.is_some() {
        return replayed(state, client, &hash, now).await;
    }
    // Errors from here on change nothing: the code stays unconsumed.
    if row.expires_at <= now {
        return Err(bad_code());
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the
    // authorization request (which always had one, OpenID Core §3.1.2.1).
    if redirect_uri != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    verify_pkce(row.code_challenge.as_deref(), code_verifier).inspect_err(|_| {
        tracing::info!(client_id = %client.id, "PKCE verification failed");
    })?;

    let grant = grants::find_grant(&state.db, &row.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(bad_code)?;
    // "Log out everywhere", "revoke every token of this client" and disabling
    // void an authorization made before them, and so its code (RFC 6749
    // §4.1.3: the code must be valid): the grant records the versions it was
    // made under. The user and client rows are read by this request.
    if !Standing::of_client(client).admits(grant.client_version) {
        return Err(bad_code());
    }
    let user_id = grant.user_id.clone().ok_or_else(bad_code)?;
    let user = users::find(&state.db, &user_id)
        .await?
        .filter(|u| Standing::of_user(u).admits(grant.user_version))
        .ok_or_else(|| OAuthError::InvalidGrant("the user is no longer active".into()))?;
    // OpenID Core §3.1.3.3 and Back-Channel Logout §2.7: the ID token
    // vouches for a login in a live session. A session that ended after the
    // code was issued (its grant then lost the session, or kept it while the
    // sweep had not run) yields nothing, whatever the client's logout policy
    // let the grant keep.
    let session_live = match grant.session_id.as_deref() {
        Some(sid) => session::live(state, sid).await?.is_some(),
        None => false,
    };
    if !session_live {
        tracing::info!(client_id = %client.id, grant_id = %grant.id, "code of an ended session");
        return Err(OAuthError::InvalidGrant(
            "the session the code was issued in has ended".into(),
        ));
    }
    let audience = issue::audience(&state.config, client, resource)?;
    let scope = Scope::from_stored(&grant.scope);
    let refresh_expires_at = issue::offers_refresh(client, &scope)
        .then(|| Lifetimes::of(state, client).refresh_expiry(now, grant.created_at));
    let minted = issue::mint_user_tokens(
        state,
        UserGrant {
            client,
            grant: &grant,
            user: &user,
            scope: &scope,
            audience: &audience,
            nonce: row.nonce.as_deref(),
            refresh_expires_at,
            dpop,
        },
    )?;

    let txn = state.db.begin().await?;
    // The conditional UPDATE is the first statement: it takes the write lock
    // before the transaction reads, and exactly one redemption wins.
    match grants::consume_code(&txn, &hash, now).await? {
        Redemption::First(_) => {}
        Redemption::Replayed(_) => {
            drop(txn);
            return replayed(state, client, &hash, now).await;
        }
        Redemption::Unknown => return Err(bad_code()),
    }
    // The grant may have been revoked while we were signing.
    // A logout that ended the session meanwhile revoked the grant or took
    // the session from it.
    let still_valid = grants::find_grant(&txn, &grant.id)
        .await?
        .is_some_and(|g| g.revoked_at.is_none() && g.session_id.is_some());
    if !still_valid {
        return Err(bad_code());
    }
    let response = minted.persist(&txn).await?;
    txn.commit().await?;
    tracing::info!(client_id = %client.id, grant_id = %grant.id, "authorization code exchanged");
    Ok(response)
}

/// RFC 6749 §4.1.2: a code used twice revokes what it issued.
async fn replayed(
    state: &AppState,
    client: &Client,
    hash: &str,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let mut tx = revocation::Transaction::begin(state.revoker()).await?;
    if let Redemption::Replayed(row) = grants::consume_code(tx.conn(), hash, now).await? {
        tx.revoke_grant(&row.grant_id, GrantReason::CodeReplayed, Initiator::Policy)
            .await?;
        tx.commit().await?;
        tracing::warn!(client_id = %client.id, grant_id = %row.grant_id, "authorization code replayed; grant revoked");
    }
    Err(bad_code())
}

/// RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a challenge is a
/// downgrade attempt and is refused too.
fn verify_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::InvalidGrant(
            "code_verifier sent but the authorization request had no code_challenge".into(),
        )),
        (Some(_), None) => Err(OAuthError::InvalidGrant("code_verifier is required".into())),
        (Some(challenge), Some(verifier)) => {
            // RFC 7636 §4.1: 43-128 unreserved characters.
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let computed = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
            if well_formed && constant_time_eq(&computed, challenge) {
                Ok(())
            } else {
                Err(OAuthError::InvalidGrant(
                    "code_verifier does not match the code_challenge".into(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify_pkce(Some(challenge), Some(verifier)).is_ok());
        assert!(verify_pkce(Some(challenge), Some("x").filter(|_| true)).is_err());
        assert!(verify_pkce(Some(challenge), None).is_err());
        assert!(verify_pkce(None, Some(verifier)).is_err());
        assert!(verify_pkce(None, None).is_ok());
    }
}
