//! The password check of the sign-in pages (the login step of `/authorize`
//! and the account page), under the brute-force policy (`crate::throttle`).

use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::Response;

use crate::audit;
use crate::pages::PageError;
use crate::secrets::dummy_password_hash;
use crate::state::AppState;
use crate::store::users::{self, User};
use crate::throttle::{self, Subject, Verdict};

const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

/// The password check of the sign-in pages (login, account).
pub enum PasswordCheck {
    Verified(User),
    Wrong,
    Throttled(u64),
    Busy(u64),
}

/// Check `username`'s password under the policy. An unknown or disabled
/// user costs the same argon2 work (against a dummy hash) and gets the same
/// answers, throttling included, as a wrong password.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    peer: IpAddr,
) -> Result<PasswordCheck, sea_orm::DbErr> {
    let known = users::find_by_username(&state.db, username).await?;
    let user = known.clone().filter(|u| !u.disabled);
    let stored = user
        .as_ref()
        .map_or(dummy_password_hash(), |u| u.password_hash.as_str());
    let check = async {
        let ok = state.passwords.verify(password, stored).await?;
        Ok(ok && user.is_some())
    };
    let result = match state
        .throttle
        .guard(Subject::User(username), peer, check)
        .await
    {
        Verdict::Verified => match user {
            Some(user) => PasswordCheck::Verified(user),
            None => PasswordCheck::Wrong,
        },
        Verdict::Wrong => PasswordCheck::Wrong,
        Verdict::Throttled { retry_after } => PasswordCheck::Throttled(retry_after),
        Verdict::Busy { retry_after } => PasswordCheck::Busy(retry_after),
    };
    let outcome = match &result {
        PasswordCheck::Verified(_) => "success",
        PasswordCheck::Wrong => "failure",
        PasswordCheck::Throttled(_) => "throttled",
        PasswordCheck::Busy(_) => "busy",
    };
    crate::metrics::sign_in(outcome);
    // A typed name that is no user's may be a password in the wrong
    // field: only a known user is named (by id).
    let detail = match &known {
        None => Some("unknown username".to_owned()),
        Some(u) if u.disabled => Some("user disabled".to_owned()),
        Some(_) => None,
    };
    let entry = audit::Entry {
        actor: "user",
        action: "sign_in",
        subject: known.map(|u| u.id),
        address: Some(peer),
        outcome,
        detail,
        ..audit::Entry::default()
    };
    audit::record(&state.db, state.now(), entry).await;
    Ok(result)
}

/// The password step of a sign-in page: the verified user, or the answer
/// to send instead. `refused` renders the page again with a status and a
/// message (401 for a wrong password, 429 with `Retry-After` during a
/// back-off); every check busy is the 503 page.
pub async fn sign_in_user(
    state: &AppState,
    username: &str,
    password: &str,
    peer: IpAddr,
    refused: impl FnOnce(StatusCode, &str) -> Response,
) -> Result<Result<User, Response>, PageError> {
    Ok(
        match check_password(state, username, password, peer).await? {
            PasswordCheck::Verified(user) => Ok(user),
            PasswordCheck::Wrong => Err(refused(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS)),
            PasswordCheck::Throttled(seconds) => {
                let message = format!("Too many failed sign-ins. Try again in {seconds} seconds.");
                let page = refused(StatusCode::TOO_MANY_REQUESTS, &message);
                Err(throttle::with_retry_after(page, seconds))
            }
            PasswordCheck::Busy(seconds) => return Err(PageError::Busy(seconds)),
        },
    )
}
