//! A bounded in-memory cache of opaque access token rows by hash, so that
//! introspecting or using a live opaque token needs no `access_tokens` read.
//!
//! A row is immutable once written except for `revoked_at` and `session_id`,
//! and both change only in a transaction that records an event in the
//! revocation log (`GrantRevoked`, `TokenRevoked`, `SessionEnded`,
//! `ClientRemoved`). Liveness never comes from a cached row: it always comes
//! from the revocation view (`tokens::liveness`), and every event the view
//! applies also evicts the rows it touches here, on this instance and (by
//! the log tail) on every other. So a cached row can never outlive a
//! revocation, nor show a session a grant no longer follows.
//!
//! Race: a row read from the database just before a revocation commits may
//! reach the cache after the view applied (and evicted for) that event. Every
//! eviction bumps a generation; a row read is cached only if no eviction
//! happened between the read and the insert ([`TokenRowCache::insert`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::grants::AccessTokenRecord;

/// Most rows held at once (each a few hundred bytes): beyond it, expired rows
/// go first, then everything (the next reads refill it).
pub const CAPACITY: usize = 8192;

#[derive(Default)]
pub struct TokenRowCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, Arc<AccessTokenRecord>>,
    generation: u64,
}

impl TokenRowCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached row of an unexpired token, if any.
    pub fn get(&self, token_hash: &str, now: i64) -> Option<Arc<AccessTokenRecord>> {
        let inner = self.lock();
        inner
            .rows
            .get(token_hash)
            .filter(|r| r.expires_at > now)
            .cloned()
    }

    /// Taken before reading a row from the database; see [`insert`](Self::insert).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Cache a row read from the database after [`generation`](Self::generation)
    /// returned `seen`: skipped when an eviction happened since (the row may
    /// predate it), and for rows revoked or expired already.
    pub fn insert(&self, seen: u64, row: &AccessTokenRecord, now: i64) {
        if row.revoked_at.is_some() || row.expires_at <= now {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != seen {
            return;
        }
        if inner.rows.len() >= CAPACITY {
            inner.rows.retain(|_, r| r.expires_at > now);
            if inner.rows.len() >= CAPACITY {
                inner.rows.clear();
            }
        }
        inner
            .rows
            .insert(row.token_hash.clone(), Arc::new(row.clone()));
    }

    /// Evict one token (`TokenRevoked`).
    pub fn forget_token(&self, token_hash: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.remove(token_hash);
    }

    /// Evict every row `matches` selects (a revoked grant, an ended session,
    /// a removed client). Linear in the cache's size, bounded by [`CAPACITY`].
    pub fn forget_where(&self, matches: impl Fn(&AccessTokenRecord) -> bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.rows.retain(|_, r| !matches(r));
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

    fn row(hash: &str, grant: Option<&str>, expires_at: i64) -> AccessTokenRecord {
        AccessTokenRecord {
            token_hash: hash.into(),
            grant_id: grant.map(Into::into),
            client_id: "c".into(),
            user_id: None,
            session_id: None,
            scope: String::new(),
            issued_at: 0,
            expires_at,
            revoked_at: None,
            audience: String::new(),
            auth_time: None,
            user_version: 0,
            client_version: 0,
            jkt: None,
        }
    }

    #[test]
    fn a_row_is_served_until_it_expires() {
        let cache = TokenRowCache::default();
        cache.insert(cache.generation(), &row("h", None, 100), 10);
        assert!(cache.get("h", 99).is_some());
        assert!(cache.get("h", 100).is_none());
    }

    #[test]
    fn a_row_read_before_an_eviction_is_not_cached() {
        let cache = TokenRowCache::default();
        let seen = cache.generation();
        cache.forget_token("h");
        cache.insert(seen, &row("h", None, 100), 10);
        assert!(cache.get("h", 10).is_none());
    }

    #[test]
    fn revoked_rows_are_not_cached_and_evictions_remove_rows() {
        let cache = TokenRowCache::default();
        let mut revoked = row("r", None, 100);
        revoked.revoked_at = Some(5);
        cache.insert(cache.generation(), &revoked, 10);
        assert!(cache.get("r", 10).is_none());
        cache.insert(cache.generation(), &row("a", Some("g1"), 100), 10);
        cache.insert(cache.generation(), &row("b", Some("g2"), 100), 10);
        cache.forget_where(|r| r.grant_id.as_deref() == Some("g1"));
        assert!(cache.get("a", 10).is_none());
        assert!(cache.get("b", 10).is_some());
        cache.forget_token("b");
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = TokenRowCache::default();
        for i in 0..CAPACITY + 10 {
            cache.insert(cache.generation(), &row(&i.to_string(), None, 100), 10);
        }
        assert!(cache.len() <= CAPACITY);
    }
}
