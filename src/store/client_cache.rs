//! A bounded in-memory cache of client rows by id, so that authenticating a
//! client (every token, introspection, revocation, PAR and device request)
//! needs no `clients` read.
//!
//! Every change to a client row commits an event of the revocation log in
//! the same transaction: `client_changed` (added, updated, new secret) or
//! one of the standing kinds (`client_tokens_voided`, `client_disabled`,
//! `client_enabled`, `client_removed`). The revocation view applies each,
//! on this instance before the change is acknowledged and on every other
//! through the log tail, and evicts the client's row here. So a cached row
//! is at most one propagation bound (`revocation.poll_interval`, sooner on
//! PostgreSQL, which notifies) behind the database, like every revocation.
//!
//! Race: a row read just before a change commits may reach the cache after
//! the view applied (and evicted for) that change. Every eviction bumps a
//! generation; a row read is cached only if no eviction happened between
//! the read and the insert ([`ClientRowCache::insert`]).
//!
//! Only rows that exist are cached: an unknown client id costs a read each
//! time, so made-up ids cannot fill (or flush) the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::clients::Client;

/// Most rows held at once (each well under a few KiB): beyond it the cache
/// starts over (the next reads refill it). Bounded by the registered
/// clients in any case, since unknown ids are never cached.
pub const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct ClientRowCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, Arc<Client>>,
    generation: u64,
}

impl ClientRowCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Client>> {
        self.lock().rows.get(id).cloned()
    }

    /// Taken before reading a row from the database; see [`insert`](Self::insert).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Cache a row read from the database after [`generation`](Self::generation)
    /// returned `seen`: skipped when an eviction happened since (the row may
    /// predate the change that caused it).
    pub fn insert(&self, seen: u64, client: Arc<Client>) {
        let mut inner = self.lock();
        if inner.generation != seen {
            return;
        }
        if inner.rows.len() >= CAPACITY && !inner.rows.contains_key(&client.id) {
            inner.rows.clear();
        }
        inner.rows.insert(client.id.clone(), client);
    }

    /// Evict one client (any event that changed its row).
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.remove(id);
    }

    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entity::client;

    fn row(id: &str) -> Arc<Client> {
        Arc::new(Client::from(client::Model {
            id: id.into(),
            secret_hash: None,
            redirect_uris: "[]".into(),
            post_logout_redirect_uris: "[]".into(),
            scopes: "[]".into(),
            grant_types: "[]".into(),
            first_party: false,
            require_pkce: false,
            id_token_signed_response_alg: "RS256".into(),
            access_token_format: "opaque".into(),
            backchannel_logout_uri: None,
            backchannel_logout_session_required: true,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: true,
            created_at: 0,
            audiences: "[]".into(),
            access_token_ttl: None,
            refresh_token_idle_ttl: None,
            refresh_token_absolute_ttl: None,
            token_version: 0,
            disabled: false,
            logout_revokes: "session_tokens".into(),
            keep_offline_tokens: false,
            introspect_audiences: "[]".into(),
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            jwks: None,
            jwks_uri: None,
        }))
    }

    #[test]
    fn a_row_is_served_until_evicted() {
        let cache = ClientRowCache::default();
        cache.insert(cache.generation(), row("a"));
        cache.insert(cache.generation(), row("b"));
        assert_eq!(cache.get("a").map(|c| c.id.clone()), Some("a".into()));
        cache.forget("a");
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some());
    }

    #[test]
    fn a_row_read_before_an_eviction_is_not_cached() {
        let cache = ClientRowCache::default();
        let seen = cache.generation();
        cache.forget("a");
        cache.insert(seen, row("a"));
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = ClientRowCache::default();
        for i in 0..CAPACITY + 10 {
            cache.insert(cache.generation(), row(&i.to_string()));
        }
        assert!(cache.len() <= CAPACITY);
        assert!(!cache.is_empty());
    }
}
