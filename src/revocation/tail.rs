//! Keeping the view current: every `revocation.poll_interval` the log's
//! `max(seq)` is compared with what the view has seen (one read of the
//! primary key index); on PostgreSQL a `LISTEN signoff_revocations`
//! connection also wakes the tail as soon as a revoking transaction commits
//! (it sent `NOTIFY`), and polling remains the fallback when that connection
//! is down.

use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::RevocationView;
use crate::store::revocation_log::Listener;

/// How often set entries past their `retain_until` are dropped.
const FORGET_EVERY: Duration = Duration::from_secs(60);
/// Wait between two attempts to re-establish `LISTEN`.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Tail the log of the database at `database_url` into `view`, polling every
/// `poll`.
pub fn spawn(
    view: RevocationView,
    database_url: String,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(view, database_url, poll))
}

async fn listen(url: &str) -> Option<Listener> {
    match Listener::connect(url).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for revocations; polling only until it works");
            None
        }
    }
}

async fn run(view: RevocationView, url: String, poll: Duration) {
    let postgres = url.starts_with("postgres");
    let mut listener = listen(&url).await;
    let mut last_attempt = Instant::now();
    let mut last_forget = Instant::now();
    let mut failing = false;
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let notified = tokio::select! {
            _ = tick.tick() => false,
            woke = async {
                match listener.as_mut() {
                    Some(l) => l.wait().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Err(e) = woke {
                    tracing::warn!(error = %e, "LISTEN connection failed; polling only until it is back");
                    listener = None;
                }
                true
            }
        };
        if postgres && listener.is_none() && last_attempt.elapsed() >= RECONNECT_EVERY {
            last_attempt = Instant::now();
            listener = listen(&url).await;
        }
        // A notification (or a lost LISTEN connection) means new events:
        // read them; otherwise ask the cheap question first.
        let caught_up = if notified {
            view.catch_up().await
        } else {
            view.sync().await
        };
        match caught_up {
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "reading the revocation log failed; retrying every poll");
            }
            Err(_) => {}
            Ok(()) if failing => {
                failing = false;
                tracing::info!("reading the revocation log works again");
            }
            Ok(()) => {}
        }
        if last_forget.elapsed() >= FORGET_EVERY {
            last_forget = Instant::now();
            view.forget_expired();
        }
    }
}
