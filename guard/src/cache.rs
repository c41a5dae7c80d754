//! Verify-once: a token whose signature and claims checked out is kept with
//! its parsed claims, so later requests with it cost a hash lookup. Time
//! and revocation checks still run on every request; entries go when the
//! token expires, when its key leaves the JWKS, or when the cache is full.

use std::collections::HashMap;
use std::sync::RwLock;

use foldhash::fast::RandomState;

use crate::claims::Claims;

pub(crate) struct TokenCache {
    entries: RwLock<HashMap<Box<str>, Claims, RandomState>>,
    capacity: usize,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            entries: RwLock::new(HashMap::default()),
            capacity,
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<Claims> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Keep `claims` for `token` until `expired_at` (Unix seconds) passes.
    pub(crate) fn insert(&self, token: &str, claims: Claims, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, c| c.expires_at() > now);
            // Still full of live tokens: start over rather than grow.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(token.into(), claims);
    }

    /// Drop expired tokens, and tokens whose key is no longer published.
    pub(crate) fn sweep(&self, now: i64, key_published: impl Fn(&str) -> bool) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.expires_at() > now && c.0.kid.as_deref().is_none_or(&key_published));
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}
