//! The in-memory revocation set (docs: the revocation contract, "Guard"):
//! revoked sessions (`sid`), users' and clients' minimum token versions
//! (`ver`, `cver`), disabled users and clients, revoked grants (`gid`),
//! single tokens (`jti`) and signing keys (`kid`). Each entry is kept until
//! its `retain_until`, after which no token it could match is alive.

use std::collections::HashMap;
use std::sync::RwLock;

use foldhash::fast::RandomState;

type Map<V> = HashMap<Box<str>, V, RandomState>;

/// One thing the provider revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every token of the session `sid`.
    Session {
        sid: String,
        retain_until: i64,
    },
    /// Every token of user `sub` whose `ver` is below `version`.
    UserVersion {
        sub: String,
        version: i64,
        retain_until: i64,
    },
    /// Every token of user `sub` while the account is disabled.
    UserDisabled {
        sub: String,
    },
    UserEnabled {
        sub: String,
    },
    /// Every token of client `client_id` whose `cver` is below `version`.
    ClientVersion {
        client_id: String,
        version: i64,
        retain_until: i64,
    },
    /// Every token of a disabled or removed client.
    ClientDisabled {
        client_id: String,
        retain_until: i64,
    },
    /// Every token of the grant (refresh-token family) `gid`.
    Grant {
        gid: String,
        retain_until: i64,
    },
    /// The one token `jti`.
    Token {
        jti: String,
        retain_until: i64,
    },
    /// The one opaque token whose SHA-256 (base64url) is `hash`.
    TokenHash {
        hash: String,
        retain_until: i64,
    },
    /// Every token signed by `kid`.
    Key {
        kid: String,
        retain_until: i64,
    },
}

/// Which entry matched a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    Session,
    UserVersion,
    UserDisabled,
    ClientVersion,
    ClientDisabled,
    Grant,
    Token,
    TokenHash,
    Key,
}

impl Matched {
    pub fn label(self) -> &'static str {
        match self {
            Matched::Session => "session",
            Matched::UserVersion => "user_version",
            Matched::UserDisabled => "user_disabled",
            Matched::ClientVersion => "client_version",
            Matched::ClientDisabled => "client_disabled",
            Matched::Grant => "grant",
            Matched::Token => "token",
            Matched::TokenHash => "token_hash",
            Matched::Key => "key",
        }
    }
}

/// What a token says about whom it belongs to.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFacts<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    /// A user's token (user versions and disabled users apply to it).
    pub user_token: bool,
    pub sid: Option<&'a str>,
    pub gid: Option<&'a str>,
    pub jti: Option<&'a str>,
    /// An opaque token's SHA-256 (base64url).
    pub token_hash: Option<&'a str>,
    pub kid: Option<&'a str>,
    /// Tokens issued before versions existed count as version 0.
    pub ver: Option<i64>,
    pub cver: Option<i64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Versioned {
    min_version: i64,
    /// Until when `min_version` matters (0: no version entry).
    version_until: i64,
    /// Disabled: users until enabled (`i64::MAX`), clients until
    /// `retain_until` (0: not disabled).
    disabled_until: i64,
}

impl Versioned {
    fn is_empty(&self) -> bool {
        self.version_until == 0 && self.disabled_until == 0
    }
}

#[derive(Default)]
struct Index {
    sessions: Map<i64>,
    grants: Map<i64>,
    tokens: Map<i64>,
    token_hashes: Map<i64>,
    keys: Map<i64>,
    users: Map<Versioned>,
    clients: Map<Versioned>,
}

impl Index {
    fn len(&self) -> usize {
        self.sessions.len()
            + self.grants.len()
            + self.tokens.len()
            + self.token_hashes.len()
            + self.keys.len()
            + self.users.len()
            + self.clients.len()
    }
}

/// Shared by the request path (reads) and the feed receiver (writes).
#[derive(Default)]
pub struct RevocationSet {
    index: RwLock<Index>,
}

fn keep_longest(map: &mut Map<i64>, key: String, retain_until: i64) {
    let entry = map.entry(key.into_boxed_str()).or_insert(retain_until);
    *entry = (*entry).max(retain_until);
}

fn raise_version(entry: &mut Versioned, version: i64, retain_until: i64) {
    // Versions only grow: a re-delivered older event changes nothing.
    entry.min_version = entry.min_version.max(version);
    entry.version_until = entry.version_until.max(retain_until);
}

impl RevocationSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&self, revocation: Revocation) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        match revocation {
            Revocation::Session { sid, retain_until } => {
                keep_longest(&mut index.sessions, sid, retain_until)
            }
            Revocation::Grant { gid, retain_until } => {
                keep_longest(&mut index.grants, gid, retain_until)
            }
            Revocation::Token { jti, retain_until } => {
                keep_longest(&mut index.tokens, jti, retain_until)
            }
            Revocation::TokenHash { hash, retain_until } => {
                keep_longest(&mut index.token_hashes, hash, retain_until)
            }
            Revocation::Key { kid, retain_until } => {
                keep_longest(&mut index.keys, kid, retain_until)
            }
            Revocation::UserVersion {
                sub,
                version,
                retain_until,
            } => raise_version(
                index.users.entry(sub.into_boxed_str()).or_default(),
                version,
                retain_until,
            ),
            Revocation::UserDisabled { sub } => {
                index
                    .users
                    .entry(sub.into_boxed_str())
                    .or_default()
                    .disabled_until = i64::MAX;
            }
            Revocation::UserEnabled { sub } => {
                if let Some(entry) = index.users.get_mut(sub.as_str()) {
                    entry.disabled_until = 0;
                    if entry.is_empty() {
                        index.users.remove(sub.as_str());
                    }
                }
            }
            Revocation::ClientVersion {
                client_id,
                version,
                retain_until,
            } => raise_version(
                index.clients.entry(client_id.into_boxed_str()).or_default(),
                version,
                retain_until,
            ),
            Revocation::ClientDisabled {
                client_id,
                retain_until,
            } => {
                let entry = index.clients.entry(client_id.into_boxed_str()).or_default();
                entry.disabled_until = entry.disabled_until.max(retain_until);
            }
        }
    }

    /// The entry revoking this token, if any: the per-request check.
    pub fn check(&self, t: &TokenFacts<'_>) -> Option<Matched> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let hit = |map: &Map<i64>, key: Option<&str>| key.is_some_and(|k| map.contains_key(k));
        if hit(&index.tokens, t.jti) {
            return Some(Matched::Token);
        }
        if hit(&index.token_hashes, t.token_hash) {
            return Some(Matched::TokenHash);
        }
        if hit(&index.sessions, t.sid) {
            return Some(Matched::Session);
        }
        if hit(&index.grants, t.gid) {
            return Some(Matched::Grant);
        }
        if hit(&index.keys, t.kid) {
            return Some(Matched::Key);
        }
        if t.user_token
            && let Some(user) = index.users.get(t.sub)
        {
            if user.disabled_until != 0 {
                return Some(Matched::UserDisabled);
            }
            if user.version_until != 0 && t.ver.unwrap_or(0) < user.min_version {
                return Some(Matched::UserVersion);
            }
        }
        if let Some(client) = index.clients.get(t.client_id) {
            if client.disabled_until != 0 {
                return Some(Matched::ClientDisabled);
            }
            if client.version_until != 0 && t.cver.unwrap_or(0) < client.min_version {
                return Some(Matched::ClientVersion);
            }
        }
        None
    }

    /// Drop what no live token can match any more (`retain_until` ≤ `now`,
    /// Unix seconds). Returns how many entries went.
    pub fn sweep(&self, now: i64) -> usize {
        let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
        let index = &mut *guard;
        let before = index.len();
        for map in [
            &mut index.sessions,
            &mut index.grants,
            &mut index.tokens,
            &mut index.token_hashes,
            &mut index.keys,
        ] {
            map.retain(|_, until| *until > now);
        }
        for map in [&mut index.users, &mut index.clients] {
            map.retain(|_, v| {
                if v.version_until != 0 && v.version_until <= now {
                    v.version_until = 0;
                    v.min_version = 0;
                }
                if v.disabled_until != 0 && v.disabled_until <= now {
                    v.disabled_until = 0;
                }
                !v.is_empty()
            });
        }
        before - index.len()
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_token<'a>(sub: &'a str, ver: Option<i64>) -> TokenFacts<'a> {
        TokenFacts {
            sub,
            client_id: "app",
            user_token: true,
            sid: Some("s1"),
            gid: Some("g1"),
            jti: Some("j1"),
            token_hash: Some("h1"),
            kid: Some("k1"),
            ver,
            cver: Some(0),
        }
    }

    #[test]
    fn each_entry_kind_matches_only_its_tokens() {
        let cases: Vec<(Revocation, Option<Matched>)> = vec![
            (
                Revocation::Session {
                    sid: "s1".into(),
                    retain_until: 100,
                },
                Some(Matched::Session),
            ),
            (
                Revocation::Session {
                    sid: "s2".into(),
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::Grant {
                    gid: "g1".into(),
                    retain_until: 100,
                },
                Some(Matched::Grant),
            ),
            (
                Revocation::Token {
                    jti: "j1".into(),
                    retain_until: 100,
                },
                Some(Matched::Token),
            ),
            (
                Revocation::Token {
                    jti: "j2".into(),
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::TokenHash {
                    hash: "h1".into(),
                    retain_until: 100,
                },
                Some(Matched::TokenHash),
            ),
            (
                Revocation::TokenHash {
                    hash: "h2".into(),
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::Key {
                    kid: "k1".into(),
                    retain_until: 100,
                },
                Some(Matched::Key),
            ),
            (
                Revocation::UserVersion {
                    sub: "alice".into(),
                    version: 3,
                    retain_until: 100,
                },
                Some(Matched::UserVersion),
            ),
            (
                Revocation::UserVersion {
                    sub: "alice".into(),
                    version: 2,
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::UserVersion {
                    sub: "bob".into(),
                    version: 9,
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::UserDisabled {
                    sub: "alice".into(),
                },
                Some(Matched::UserDisabled),
            ),
            (
                Revocation::ClientVersion {
                    client_id: "app".into(),
                    version: 1,
                    retain_until: 100,
                },
                Some(Matched::ClientVersion),
            ),
            (
                Revocation::ClientVersion {
                    client_id: "app".into(),
                    version: 0,
                    retain_until: 100,
                },
                None,
            ),
            (
                Revocation::ClientDisabled {
                    client_id: "app".into(),
                    retain_until: 100,
                },
                Some(Matched::ClientDisabled),
            ),
            (
                Revocation::ClientDisabled {
                    client_id: "other".into(),
                    retain_until: 100,
                },
                None,
            ),
        ];
        for (revocation, expected) in cases {
            let set = RevocationSet::new();
            set.apply(revocation.clone());
            assert_eq!(
                set.check(&user_token("alice", Some(2))),
                expected,
                "{revocation:?}"
            );
        }
    }

    #[test]
    fn versions_only_grow_and_tokens_without_ver_count_as_zero() {
        let set = RevocationSet::new();
        set.apply(Revocation::UserVersion {
            sub: "alice".into(),
            version: 3,
            retain_until: 100,
        });
        set.apply(Revocation::UserVersion {
            sub: "alice".into(),
            version: 1,
            retain_until: 50,
        });
        assert_eq!(
            set.check(&user_token("alice", Some(2))),
            Some(Matched::UserVersion)
        );
        assert_eq!(set.check(&user_token("alice", Some(3))), None);
        assert_eq!(
            set.check(&user_token("alice", None)),
            Some(Matched::UserVersion)
        );
        // A client acting for itself is not the user, whatever its sub.
        let mut client_token = user_token("alice", None);
        client_token.user_token = false;
        assert_eq!(set.check(&client_token), None);
    }

    #[test]
    fn enabling_a_user_keeps_the_version_bump() {
        let set = RevocationSet::new();
        set.apply(Revocation::UserDisabled {
            sub: "alice".into(),
        });
        set.apply(Revocation::UserVersion {
            sub: "alice".into(),
            version: 4,
            retain_until: 100,
        });
        set.apply(Revocation::UserEnabled {
            sub: "alice".into(),
        });
        assert_eq!(
            set.check(&user_token("alice", Some(3))),
            Some(Matched::UserVersion)
        );
        assert_eq!(set.check(&user_token("alice", Some(4))), None);
        set.apply(Revocation::UserEnabled {
            sub: "nobody".into(),
        });
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn sweep_drops_entries_at_retain_until() {
        let set = RevocationSet::new();
        set.apply(Revocation::Session {
            sid: "s1".into(),
            retain_until: 100,
        });
        set.apply(Revocation::Token {
            jti: "j1".into(),
            retain_until: 200,
        });
        set.apply(Revocation::UserVersion {
            sub: "alice".into(),
            version: 3,
            retain_until: 100,
        });
        set.apply(Revocation::UserDisabled { sub: "bob".into() });
        set.apply(Revocation::ClientDisabled {
            client_id: "app".into(),
            retain_until: 100,
        });
        assert_eq!(set.len(), 5);
        assert_eq!(set.sweep(99), 0);
        assert_eq!(set.sweep(100), 3);
        assert_eq!(
            set.check(&user_token("alice", Some(0))),
            Some(Matched::Token)
        );
        assert_eq!(set.sweep(200), 1);
        // A disabled user stays until enabled.
        assert_eq!(
            set.check(&user_token("bob", Some(9))),
            Some(Matched::UserDisabled)
        );
        assert_eq!(set.len(), 1);
    }
}
