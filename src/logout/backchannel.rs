//! Back-Channel Logout 1.0: the logout token (§2.4) and its delivery (§2.5)
//! from the outbox. Every instance runs the worker; a row is delivered by
//! whichever instance claims it first (store::logout_outbox::claim). Failed
//! attempts are retried with exponential back-off until `max_attempts`,
//! then recorded as failed for `signoff logout-deliveries list`.

use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::config::LogoutConfig;
use crate::jws::Algorithm;
use crate::state::AppState;
use crate::store::clients;
use crate::store::logout_outbox::{self, Notification};

/// Back-Channel Logout 1.0 §2.4: the one event a logout token carries.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Back-Channel Logout 1.0 §2.4: explicit typing keeps a logout token from
/// being mistaken for an ID token.
pub const TYP: &str = "logout+jwt";
/// Back-Channel Logout 1.0 §2.4 recommends a short lifetime; two minutes.
const TOKEN_TTL: i64 = 120;
/// Rows claimed per round.
const BATCH: u64 = 32;
/// Seconds a claimed row stays with the claiming worker before another may
/// retry it (a worker that died mid-delivery).
const LEASE: i64 = 60;
/// Rounds between two prunings of delivered rows.
const PRUNE_EVERY: u64 = 600;

/// Back-Channel Logout 1.0 §2.4 claims. `nonce` is never present (§2.4: it
/// is prohibited, so a logout token cannot pass as an ID token).
#[derive(Debug, Serialize)]
pub struct LogoutTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: &'a str,
    pub events: Value,
    pub sid: &'a str,
}

/// Sign the logout token for one notification, with the key and algorithm
/// the client's ID tokens use (§2.4: "signed ... as ID Tokens are"). The
/// `jti` is the row's id: retries of one notification carry the same `jti`,
/// so an RP that already processed it can tell.
pub fn logout_token(
    state: &AppState,
    alg: Algorithm,
    n: &Notification,
    now: i64,
) -> anyhow::Result<String> {
    let key = state
        .keys
        .signer(alg, now)
        .ok_or_else(|| anyhow::anyhow!("no {alg} signing key is active"))?;
    let claims = LogoutTokenClaims {
        iss: state.config.issuer_str(),
        sub: &n.sub,
        aud: &n.client_id,
        iat: now,
        exp: now + TOKEN_TTL,
        jti: &n.id,
        events: json!({ EVENT: {} }),
        sid: &n.sid,
    };
    key.sign(TYP, &claims)
}

/// Wait before attempt `attempts + 1`: `retry_base`·2^(attempts−1), at
/// most `retry_max`.
pub fn backoff(config: &LogoutConfig, attempts: u32) -> i64 {
    let base = config.retry_base.as_secs().max(1);
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    base.saturating_mul(factor).min(config.retry_max.as_secs()) as i64
}

/// What one delivery attempt came to.
#[derive(Debug)]
enum Outcome {
    Delivered,
    /// Worth trying again later (network error, timeout, 5xx, 408, 429).
    Retry(String),
    /// The RP refused the token (§2.8: 400 when logout failed) or it cannot
    /// be built; trying again would not help.
    Permanent(String),
}

pub fn http_client(config: &LogoutConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(config.delivery_timeout)
        .connect_timeout(config.delivery_timeout)
        // A redirect is not an answer: the RP registered this exact URI.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "signoff/",
            env!("CARGO_PKG_VERSION"),
            " back-channel logout"
        ))
        .build()
        .unwrap_or_default()
}

async fn attempt(state: &AppState, http: &reqwest::Client, n: &Notification) -> Outcome {
    let alg = match clients::find(&state.db, &n.client_id).await {
        Ok(Some(c)) => c.id_token_alg,
        Ok(None) => return Outcome::Permanent(format!("client {} no longer exists", n.client_id)),
        Err(e) => return Outcome::Retry(format!("database: {e}")),
    };
    let token = match logout_token(state, alg, n, state.now()) {
        Ok(t) => t,
        Err(e) => return Outcome::Permanent(format!("{e:#}")),
    };
    // Back-Channel Logout 1.0 §2.5: an application/x-www-form-urlencoded
    // POST with the single parameter logout_token.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let response = http
        .post(&n.uri)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await;
    match response {
        // §2.8: 200 (or 204) means the RP logged the session out.
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        Ok(r) => {
            let status = r.status();
            let message = format!("HTTP {}", status.as_u16());
            // §2.8: the RP answers 200 or 400. A redirect is not followed (the
            // token must not travel elsewhere) and will not change on retry.
            let refused =
                status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429;
            if refused || status.is_redirection() {
                Outcome::Permanent(message)
            } else {
                Outcome::Retry(message)
            }
        }
        Err(e) if e.is_timeout() => Outcome::Retry("timed out".into()),
        Err(e) if e.is_connect() => Outcome::Retry("connection failed".into()),
        Err(e) => Outcome::Retry(format!("request failed: {e}")),
    }
}

async fn deliver(state: AppState, http: reqwest::Client, n: Notification) {
    let outcome = attempt(&state, &http, &n).await;
    let now = state.now();
    // `n.attempts` was read before the claim, which counted this attempt.
    let attempts = n.attempts.max(0) as u32 + 1;
    let config = &state.config.logout;
    let result = match &outcome {
        Outcome::Delivered => {
            crate::metrics::backchannel("delivered");
            tracing::info!(client_id = %n.client_id, sid = %n.sid, jti = %n.id, attempts, "back-channel logout delivered");
            logout_outbox::mark_delivered(&state.db, &n.id, now).await
        }
        Outcome::Retry(error) if attempts < config.max_attempts => {
            let wait = backoff(config, attempts);
            crate::metrics::backchannel("retry");
            tracing::warn!(client_id = %n.client_id, sid = %n.sid, jti = %n.id, attempts, retry_in = wait, error = %error, "back-channel logout failed; will retry");
            logout_outbox::schedule_retry(&state.db, &n.id, now + wait, error).await
        }
        Outcome::Retry(error) | Outcome::Permanent(error) => {
            crate::metrics::backchannel("failed");
            tracing::error!(client_id = %n.client_id, sid = %n.sid, jti = %n.id, attempts, error = %error, "back-channel logout failed for good");
            logout_outbox::mark_failed(&state.db, &n.id, error).await
        }
    };
    if let Err(e) = result {
        // The lease runs out and the row is tried again.
        tracing::warn!(jti = %n.id, error = %e, "recording a back-channel logout attempt failed");
    }
}

/// One round: claim the due rows and deliver them concurrently. Returns how
/// many were attempted.
pub async fn run_once(state: &AppState, http: &reqwest::Client) -> Result<usize, sea_orm::DbErr> {
    let now = state.now();
    let due = logout_outbox::due(&state.db, now, BATCH).await?;
    let mut tasks = JoinSet::new();
    for n in due {
        if logout_outbox::claim(&state.db, &n.id, now, LEASE).await? {
            tasks.spawn(deliver(state.clone(), http.clone(), n));
        }
    }
    let attempted = tasks.len();
    while tasks.join_next().await.is_some() {}
    Ok(attempted)
}

/// The delivery worker of a running server.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = http_client(&state.config.logout);
        let mut tick = tokio::time::interval(state.config.logout.worker_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            rounds += 1;
            if let Err(e) = run_once(&state, &http).await {
                tracing::warn!(error = %e, "back-channel logout round failed");
            }
            if rounds.is_multiple_of(PRUNE_EVERY) {
                let keep = state.config.logout.keep_delivered.as_secs() as i64;
                if let Err(e) = logout_outbox::prune_delivered(&state.db, state.now() - keep).await
                {
                    tracing::warn!(error = %e, "pruning delivered logout notifications failed");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let config = LogoutConfig {
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(60),
            ..LogoutConfig::default()
        };
        assert_eq!(backoff(&config, 1), 10);
        assert_eq!(backoff(&config, 2), 20);
        assert_eq!(backoff(&config, 3), 40);
        assert_eq!(backoff(&config, 4), 60);
        assert_eq!(backoff(&config, 40), 60);
    }
}
