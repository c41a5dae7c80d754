//! OAuth 2.0 Device Authorization Grant (RFC 8628): `POST
//! /device_authorization` (§3.1–3.2) hands a device a `device_code` to poll
//! with and a `user_code` for its user to enter on the hosted /device page
//! (`device_page`); the token endpoint redeems the code (`device_token`).
//! Both codes are bearer values: only their hashes are stored.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use url::Url;

use crate::error::OAuthError;
use crate::grant_type::GrantType;
use crate::http::extract::Params;
use crate::http::headers::no_store;
use crate::oidc::authorize::request::check_scope;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::random::{Random, secret_token};
use crate::seal::MasterKeys;
use crate::secrets::{hmac_sha256, token_hash};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::device_codes::{self, DeviceCode};

/// RFC 8628 §6.1: base-20 consonants, no vowels (no words) and none of the
/// easily confused characters (0/O, 1/I/L...).
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// RFC 8628 §6.1: 8 characters of base 20 are 34.5 bits.
const USER_CODE_LEN: usize = 8;
/// Tries to find a user code that is not in use (a collision is a unique
/// index violation).
const INSERT_ATTEMPTS: usize = 3;

/// A fresh user code, normalised (no dash).
pub fn new_user_code(rng: &dyn Random) -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    let mut buf = [0u8; 16];
    while code.len() < USER_CODE_LEN {
        rng.fill(&mut buf);
        // 240 = 12 × 20: bytes above it are dropped, so every letter is
        // equally likely.
        for b in buf.iter().filter(|b| **b < 240) {
            if code.len() == USER_CODE_LEN {
                break;
            }
            code.push(USER_CODE_ALPHABET[(*b % 20) as usize] as char);
        }
    }
    code
}

/// RFC 8628 §6.1: shown as XXXX-XXXX, for the user to read.
pub fn display_user_code(code: &str) -> String {
    match code.split_at_checked(USER_CODE_LEN / 2) {
        Some((a, b)) => format!("{a}-{b}"),
        None => code.to_owned(),
    }
}

/// RFC 8628 §6.1: what the user typed, compared case-insensitively with
/// dashes and spaces ignored; `None` when it cannot be a user code.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    // Bounded before any work: a page form is attacker-controlled.
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let well_formed =
        code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    well_formed.then_some(code)
}

/// The hashes a user code may be stored under, the one to store first: an
/// HMAC under a key derived from each master key. A user code has only 34.5
/// bits, so a plain hash in a leaked database would give every live code
/// away to a brute force; the keyed one does not without the master key.
pub fn user_code_hashes(master: &MasterKeys, normalized: &str) -> Vec<String> {
    master
        .derive(USER_CODE_PURPOSE)
        .iter()
        .map(|key| URL_SAFE_NO_PAD.encode(hmac_sha256(key, normalized.as_bytes())))
        .collect()
}

const USER_CODE_PURPOSE: &str = "device-user-code";

/// `POST /device_authorization` (RFC 8628 §3.1).
pub async fn authorize(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Response {
    match handle(&state, &client, &params).await {
        // RFC 8628 §3.2: 200 with the codes; never cached.
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<serde_json::Value, OAuthError> {
    // RFC 8628 §3.2 with RFC 6749 §5.2: a client not registered for the
    // grant.
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the device authorization grant".into(),
        ));
    }
    // RFC 8628 §3.1: the scope, as at the authorization endpoint.
    let scope = check_scope(client, params)?;
    let now = state.now();
    let ttl = state.config.device.ttl_secs();
    let interval = state.config.device.interval_secs();
    let device_code = secret_token(state.rng.as_ref());
    let mut attempt = 0;
    let user_code = loop {
        let user_code = new_user_code(state.rng.as_ref());
        let user_code_hash = user_code_hashes(state.keys.master_keys(), &user_code).swap_remove(0);
        let inserted = device_codes::insert(
            &state.db,
            DeviceCode {
                device_code_hash: token_hash(&device_code),
                user_code_hash,
                client_id: client.id.clone(),
                scope: scope.to_string(),
                created_at: now,
                expires_at: now + ttl,
                interval,
                last_polled_at: None,
                status: device_codes::PENDING.into(),
                grant_id: None,
                consumed_at: None,
            },
        )
        .await;
        attempt += 1;
        match inserted {
            Ok(()) => break user_code,
            Err(e) if attempt >= INSERT_ATTEMPTS => return Err(e.into()),
            Err(e) => tracing::warn!(error = %e, "device code insert failed; retrying"),
        }
    };
    tracing::info!(client_id = %client.id, "device authorization started");
    let verification_uri = state.config.endpoint("/device");
    let mut complete = Url::parse(&verification_uri).map_err(anyhow::Error::from)?;
    complete
        .query_pairs_mut()
        .append_pair("user_code", &display_user_code(&user_code));
    Ok(json!({
        "device_code": device_code,
        "user_code": display_user_code(&user_code),
        "verification_uri": verification_uri,
        // RFC 8628 §3.3.1: the code in the URI; the page still asks the
        // user to confirm it (§5.4).
        "verification_uri_complete": complete.as_str(),
        "expires_in": ttl,
        "interval": interval,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn user_codes_use_the_unambiguous_alphabet_and_normalize() {
        for _ in 0..100 {
            let code = new_user_code(&OsRandom);
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
            let shown = display_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
            let typed = shown.to_lowercase().replace('-', " ");
            assert_eq!(normalize_user_code(&typed).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("ABCD-EFGH"), None);
        assert_eq!(normalize_user_code(&"B".repeat(100)), None);
        assert_eq!(normalize_user_code("BCDF-GHJKé"), None);
    }
}
