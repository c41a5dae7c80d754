//! The authorization_code grant (RFC 6749 §4.1.3, OpenID Core §3.1.3.2,
//! RFC 7636 §4.6).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::DatabaseTransaction;

use super::issue::TokenResponse;
use super::redeem::{Redeemable, Redeemed, redeem_grant};
use crate::error::OAuthError;
use crate::revocation::{self, GrantReason, Initiator};
use crate::secrets::{constant_time_eq, token_hash};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::grants::{self, Redemption};

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
    // Everything is checked and signed before the write transaction
    // (`redeem_grant`): SQLite's single writer is never held while an RSA
    // signature is made.
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

    let redeemable = Redeemable {
        client,
        grant_id: &row.grant_id,
        nonce: row.nonce.as_deref(),
        resource,
        dpop,
        invalid: bad_code,
        session_ended: "the session the code was issued in has ended",
    };
    let consume = async |txn: &DatabaseTransaction| Ok(grants::take_code(txn, &hash, now).await?);
    match redeem_grant(state, redeemable, consume).await? {
        Redeemed::Tokens(response) => {
            tracing::info!(client_id = %client.id, "authorization code exchanged");
            Ok(response)
        }
        // Used meanwhile by a concurrent request: a replay.
        Redeemed::NotConsumed => replayed(state, client, &hash, now).await,
    }
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
