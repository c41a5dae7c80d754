//! The password check of the sign-in pages (the login step of `/authorize`
//! and the account page), under the brute-force policy (`crate::throttle`).

use std::net::IpAddr;

use crate::secrets::dummy_password_hash;
use crate::state::AppState;
use crate::store::users::{self, User};
use crate::throttle::{Subject, Verdict};

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
    let user = users::find_by_username(&state.db, username)
        .await?
        .filter(|u| !u.disabled);
    let stored = user
        .as_ref()
        .map_or(dummy_password_hash(), |u| u.password_hash.as_str());
    let check = async {
        let ok = state.passwords.verify(password, stored).await?;
        Ok(ok && user.is_some())
    };
    Ok(
        match state
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
        },
    )
}

/// What a sign-in page says during a back-off.
pub fn throttled_message(seconds: u64) -> String {
    format!("Too many failed sign-ins. Try again in {seconds} seconds.")
}
