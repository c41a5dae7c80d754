//! OpenID Shared Signals Framework 1.0 transmitter: the revocation feed for
//! resource servers (docs/ssf.md). Every event of the revocation log
//! becomes Security Event Tokens (RFC 8417) on every stream that wants it,
//! delivered by poll (RFC 8936, with long polling) or push (RFC 8935).
//!
//! - `metadata`: `/.well-known/ssf-configuration` (SSF 1.0 §7)
//! - `auth`: who is asking (a client_credentials bearer token)
//! - `streams`: stream management (SSF 1.0 §8.1)
//! - `subjects`: add/remove subject (SSF 1.0 §8.1.3) and the per-stream filter
//! - `set`: the SETs a log event becomes
//! - `feed`: which SETs a stream has to deliver, and acknowledgements
//! - `poll`, `push`: the two delivery methods

pub mod auth;
pub mod config;
pub mod error;
pub mod feed;
pub mod metadata;
pub mod poll;
pub mod push;
pub mod set;
pub mod streams;
pub mod subjects;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

use crate::config::SsfConfig;

/// RFC 8935: push delivery.
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// RFC 8936: poll delivery.
pub const POLL: &str = "urn:ietf:rfc:8936";

/// Scope of a token that manages streams.
pub const MANAGE_SCOPE: &str = "ssf.manage";
/// Scope of a token that reads streams and polls.
pub const READ_SCOPE: &str = "ssf.read";

/// What the transmitter keeps in memory on this instance: the bound on held
/// long polls, and a wake-up for SETs that are not log events (verification).
/// Nothing here is state: streams, cursors and queued SETs are in the
/// database.
pub struct Hub {
    pub long_polls: Arc<Semaphore>,
    /// Notified when this instance queues a verification SET; a poll held
    /// elsewhere sees it at the latest at its timeout.
    pub queued: Notify,
    /// Woken to push at once (a stream created or enabled here).
    pub push_now: Notify,
    /// Long polls held per receiver (client id) on this instance.
    per_client: Arc<Mutex<HashMap<String, usize>>>,
}

/// A receiver's held long poll; gives its slot back when dropped.
pub struct ClientSlot {
    held: Arc<Mutex<HashMap<String, usize>>>,
    client_id: String,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.client_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.client_id);
            }
        }
    }
}

impl Hub {
    pub fn new(config: &SsfConfig) -> Hub {
        Hub {
            long_polls: Arc::new(Semaphore::new(config.max_long_polls)),
            queued: Notify::new(),
            push_now: Notify::new(),
            per_client: Arc::default(),
        }
    }

    /// One of `max` long-poll slots of `client_id`, if one is free.
    pub fn client_slot(&self, client_id: &str, max: usize) -> Option<ClientSlot> {
        let mut held = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(client_id.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            held: self.per_client.clone(),
            client_id: client_id.to_owned(),
        })
    }
}
