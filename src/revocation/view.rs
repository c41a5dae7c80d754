//! The revocation view: what each instance keeps in memory so that a token
//! check needs no user, client, grant or session row. It holds the users and
//! clients whose token version is above 0 or who are disabled, and, until
//! their `retain_until`, the revoked grants, `jti`s, opaque token hashes and
//! signing keys and the ended sessions.
//!
//! It is built at start from the tables and the log, then kept current by
//! tailing the log (`tail.rs`): every event is applied by `seq`. The
//! instance that commits a revocation applies it before answering. On
//! PostgreSQL a transaction holding a lower `seq` can commit after one
//! holding a higher `seq`, so a missing `seq` below the highest seen is a
//! gap, re-read until it shows up or `revocation.gap_timeout` passes (then
//! it was a rolled-back transaction).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};
use tokio::sync::watch;
use tokio::time::Instant;

use super::event::{Event, Kind};
use crate::clock::Clock;
use crate::config::{Consistency, RevocationConfig};
use crate::store::client_cache::ClientRowCache;
use crate::store::clients::Client;
use crate::store::revocation_log::{self, EventRecord};
use crate::store::token_cache::TokenRowCache;
use crate::store::{clients, users};
use crate::tokens::liveness::{Standing, TokenFacts, outlives_revocations};

/// Events read from the log per query.
const BATCH: u64 = 500;
/// At start on PostgreSQL, missing `seq`s among the last this many are
/// treated as gaps: transactions that were in flight while the view loaded.
const STARTUP_GAP_WINDOW: i64 = 256;
/// Most gaps remembered at once (a larger jump of the sequence is not a set
/// of in-flight transactions).
const MAX_GAPS: usize = 10_000;

/// This instance's view of the log; cheap to clone (shared).
#[derive(Clone)]
pub struct RevocationView(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    consistency: Consistency,
    gap_timeout: Duration,
    entries: RwLock<Entries>,
    tracker: Mutex<Tracker>,
    /// One reader of the log at a time.
    reading: tokio::sync::Mutex<()>,
    /// The highest `seq` below which every event is applied.
    applied: watch::Sender<i64>,
    /// When the log was last read successfully (readiness: a view that
    /// cannot read the log falls behind other instances' revocations).
    synced_at: Mutex<Instant>,
    /// Opaque access token rows, evicted by the events applied here.
    token_rows: TokenRowCache,
    /// Client rows, evicted by every event that changed one.
    client_rows: ClientRowCache,
}

/// A user or client: its standing, and the `seq` of the event that last set
/// its disabled flag (flags follow the newest event; versions only rise).
#[derive(Debug, Default, Clone, Copy)]
struct Holder {
    standing: Standing,
    flag_seq: i64,
}

#[derive(Default)]
struct Entries {
    users: HashMap<String, Holder>,
    clients: HashMap<String, Holder>,
    /// Each set maps an id to its `retain_until`.
    grants: HashMap<String, i64>,
    jtis: HashMap<String, i64>,
    token_hashes: HashMap<String, i64>,
    sessions: HashMap<String, i64>,
    kids: HashMap<String, i64>,
}

fn keep(set: &mut HashMap<String, i64>, id: &Option<String>, until: i64) {
    if let Some(id) = id {
        let entry = set.entry(id.clone()).or_insert(until);
        *entry = (*entry).max(until);
    }
}

fn holder<'a>(map: &'a mut HashMap<String, Holder>, id: &Option<String>) -> Option<&'a mut Holder> {
    id.as_ref().map(|id| map.entry(id.clone()).or_default())
}

impl Holder {
    fn raise(&mut self, version: Option<i64>) {
        if let Some(v) = version {
            self.standing.version = self.standing.version.max(v);
        }
    }

    fn flag(&mut self, disabled: bool, seq: i64) {
        if seq > self.flag_seq {
            self.standing.disabled = disabled;
            self.flag_seq = seq;
        }
    }
}

impl Entries {
    /// Apply one event; applying it again changes nothing.
    fn apply(&mut self, e: &Event) {
        let until = e.retain_until;
        match e.kind {
            Kind::SessionEnded => keep(&mut self.sessions, &e.session_id, until),
            Kind::GrantRevoked => keep(&mut self.grants, &e.grant_id, until),
            Kind::TokenRevoked => {
                keep(&mut self.jtis, &e.jti, until);
                keep(&mut self.token_hashes, &e.token_hash, until);
            }
            Kind::KeyRevoked => keep(&mut self.kids, &e.kid, until),
            Kind::UserTokensVoided | Kind::CredentialChanged => {
                if let Some(h) = holder(&mut self.users, &e.user_id) {
                    h.raise(e.version);
                }
            }
            Kind::UserDisabled | Kind::UserEnabled => {
                if let Some(h) = holder(&mut self.users, &e.user_id) {
                    h.raise(e.version);
                    h.flag(e.kind == Kind::UserDisabled, e.seq);
                }
            }
            // A removed client's id may be registered again; the new client
            // starts at the removed one's last version (admin::add_client).
            Kind::ClientTokensVoided | Kind::ClientRemoved => {
                if let Some(h) = holder(&mut self.clients, &e.client_id) {
                    h.raise(e.version);
                }
            }
            Kind::ClientDisabled | Kind::ClientEnabled => {
                if let Some(h) = holder(&mut self.clients, &e.client_id) {
                    h.raise(e.version);
                    h.flag(e.kind == Kind::ClientDisabled, e.seq);
                }
            }
            // Nothing to remember: the cached row is evicted (`evict_rows`).
            Kind::ClientChanged => {}
        }
    }

    fn forget_expired(&mut self, now: i64) {
        for set in [
            &mut self.grants,
            &mut self.jtis,
            &mut self.token_hashes,
            &mut self.sessions,
            &mut self.kids,
        ] {
            set.retain(|_, until| *until > now);
        }
    }
}

/// Which `seq`s have been seen, and which below the highest are missing.
struct Tracker {
    max_seen: i64,
    /// Missing `seq` → when to stop waiting for it.
    gaps: BTreeMap<i64, Instant>,
}

impl Tracker {
    fn observe(&mut self, seq: i64, deadline: Instant) {
        if seq > self.max_seen {
            let first_missing = (self.max_seen + 1).max(seq - MAX_GAPS as i64);
            for missing in first_missing..seq {
                if self.gaps.len() >= MAX_GAPS {
                    break;
                }
                self.gaps.insert(missing, deadline);
            }
            self.max_seen = seq;
        } else {
            self.gaps.remove(&seq);
        }
    }

    fn applied(&self) -> i64 {
        match self.gaps.keys().next() {
            Some(first) => first - 1,
            None => self.max_seen,
        }
    }
}

impl RevocationView {
    /// Build the view from the current state and the events still in force.
    pub async fn load(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        config: &RevocationConfig,
    ) -> Result<Self, DbErr> {
        // The watermark first: whatever commits after it is read by the tail.
        let start = revocation_log::max_seq(&db).await?;
        let mut entries = Entries::default();
        for (id, version, disabled) in users::standings(&db).await? {
            let standing = Standing { version, disabled };
            entries.users.insert(
                id,
                Holder {
                    standing,
                    flag_seq: 0,
                },
            );
        }
        for (id, version, disabled) in clients::standings(&db).await? {
            let standing = Standing { version, disabled };
            entries.clients.insert(
                id,
                Holder {
                    standing,
                    flag_seq: 0,
                },
            );
        }
        // The tables just read hold the effect of every user and client event
        // committed so far: replaying older ones could only undo a newer
        // one (a disabling whose enabling is no longer kept). Events that
        // commit from now on (the tail, and gaps) apply on top. A removed
        // client has no row left: its last version comes from the log.
        for record in revocation_log::in_force(&db, clock.now(), start).await? {
            match Event::from_record(record) {
                Some(e) if !e.kind.is_standing() || e.kind == Kind::ClientRemoved => {
                    entries.apply(&e)
                }
                _ => {}
            }
        }
        let mut tracker = Tracker {
            max_seen: start,
            gaps: BTreeMap::new(),
        };
        // SQLite has one writer: whatever is below `start` has committed.
        if db.get_database_backend() == DatabaseBackend::Postgres && start > 0 {
            let low = (start - STARTUP_GAP_WINDOW).max(0);
            let present: HashSet<i64> = revocation_log::seqs_between(&db, low, start)
                .await?
                .into_iter()
                .collect();
            let deadline = Instant::now() + config.gap_timeout;
            for seq in (low + 1..=start).filter(|s| !present.contains(s)) {
                tracker.gaps.insert(seq, deadline);
            }
        }
        let (applied, _) = watch::channel(tracker.applied());
        Ok(RevocationView(Arc::new(Inner {
            db,
            clock,
            consistency: config.consistency,
            gap_timeout: config.gap_timeout,
            entries: RwLock::new(entries),
            tracker: Mutex::new(tracker),
            reading: tokio::sync::Mutex::new(()),
            applied,
            synced_at: Mutex::new(Instant::now()),
            token_rows: TokenRowCache::default(),
            client_rows: ClientRowCache::default(),
        })))
    }

    /// The cache of opaque access token rows this view keeps current
    /// (`store::token_cache`).
    pub fn token_rows(&self) -> &TokenRowCache {
        &self.0.token_rows
    }

    /// The cache of client rows this view keeps current
    /// (`store::client_cache`).
    pub fn client_rows(&self) -> &ClientRowCache {
        &self.0.client_rows
    }

    /// The client registered as `id`, from the cache when this view holds
    /// it (no statement), else read and cached. Under `strict` consistency
    /// the view first catches up with the log, so a change committed
    /// anywhere counts from the next request, as it does for revocations.
    /// An unknown id is not cached (`store::client_cache`).
    pub async fn find_client(&self, id: &str) -> Result<Option<Client>, DbErr> {
        self.ready().await?;
        let cache = &self.0.client_rows;
        if let Some(client) = cache.get(id) {
            return Ok(Some(Client::clone(&client)));
        }
        let seen = cache.generation();
        let Some(client) = clients::find(&self.0.db, id).await? else {
            return Ok(None);
        };
        cache.insert(seen, Arc::new(client.clone()));
        Ok(Some(client))
    }

    /// Evict the cached token rows an event changed (`revoked_at`,
    /// `session_id`): a revoked token or grant, an ended session (its grants
    /// were revoked or detached), a removed client (every row revoked).
    fn evict_rows(&self, e: &Event) {
        if e.kind.changes_client()
            && let Some(cid) = &e.client_id
        {
            self.0.client_rows.forget(cid);
        }
        let rows = &self.0.token_rows;
        match e.kind {
            Kind::TokenRevoked => {
                if let Some(hash) = &e.token_hash {
                    rows.forget_token(hash);
                }
            }
            Kind::GrantRevoked => {
                if let Some(gid) = &e.grant_id {
                    rows.forget_where(|r| r.grant_id.as_ref() == Some(gid));
                }
            }
            Kind::SessionEnded => {
                if let Some(sid) = &e.session_id {
                    rows.forget_where(|r| r.session_id.as_ref() == Some(sid));
                }
            }
            Kind::ClientRemoved => {
                if let Some(cid) = &e.client_id {
                    rows.forget_where(|r| &r.client_id == cid);
                }
            }
            // Versions and flags are read from the view itself on every check.
            _ => {}
        }
    }

    fn entries(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.0.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.0.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the token survives every revocation this view knows of. Pure
    /// memory; see [`check`](Self::check) for the configured consistency.
    pub fn allows(&self, t: &TokenFacts<'_>) -> bool {
        let e = self.entries();
        let standing = |map: &HashMap<String, Holder>, id: &str| {
            map.get(id).map(|h| h.standing).unwrap_or_default()
        };
        let client = standing(&e.clients, t.client_id);
        let user = t.user_id.map(|id| standing(&e.users, id));
        let listed = |set: &HashMap<String, i64>, id: Option<&str>| {
            id.is_some_and(|id| set.contains_key(id))
        };
        outlives_revocations(t.issued_under, Some(client), user)
            && !listed(&e.grants, t.grant_id)
            && !listed(&e.jtis, t.jti)
            && !listed(&e.token_hashes, t.token_hash)
            && !listed(&e.kids, t.kid)
    }

    /// [`allows`](Self::allows) under `revocation.consistency`: `strict`
    /// first catches up with the database's newest event.
    pub async fn check(&self, t: &TokenFacts<'_>) -> Result<bool, DbErr> {
        self.ready().await?;
        Ok(self.allows(t))
    }

    /// Under `strict` consistency, catch up with every event committed so
    /// far (one read of `max(seq)` when nothing is new); under `eventual`,
    /// nothing.
    pub async fn ready(&self) -> Result<(), DbErr> {
        match self.0.consistency {
            Consistency::Strict => self.sync().await,
            Consistency::Eventual => Ok(()),
        }
    }

    /// The session has ended (as far as this view knows and retains it).
    pub fn session_ended(&self, sid: &str) -> bool {
        self.entries().sessions.contains_key(sid)
    }

    /// A `jti` on the revocation list.
    pub fn jti_revoked(&self, jti: &str) -> bool {
        self.entries().jtis.contains_key(jti)
    }

    pub fn user(&self, user_id: &str) -> Standing {
        self.entries()
            .users
            .get(user_id)
            .map(|h| h.standing)
            .unwrap_or_default()
    }

    pub fn client(&self, client_id: &str) -> Standing {
        self.entries()
            .clients
            .get(client_id)
            .map(|h| h.standing)
            .unwrap_or_default()
    }

    /// The highest `seq` up to which every event is applied here.
    pub fn applied(&self) -> i64 {
        *self.0.applied.borrow()
    }

    /// Woken whenever [`applied`](Self::applied) moves (the Shared Signals
    /// feed long-polls on it).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.applied.subscribe()
    }

    /// Events after `after`, up to [`applied`](Self::applied), oldest first,
    /// at most `limit`: never one that a lower, still missing `seq` could
    /// come before.
    pub async fn events_after(&self, after: i64, limit: u64) -> Result<Vec<Event>, DbErr> {
        let up_to = self.applied();
        if after >= up_to {
            return Ok(Vec::new());
        }
        Ok(revocation_log::after(&self.0.db, after, limit)
            .await?
            .into_iter()
            .filter(|r| r.seq <= up_to)
            .filter_map(Event::from_record)
            .collect())
    }

    /// Apply events this instance has just committed.
    pub(crate) fn apply_committed(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        {
            let mut entries = self.0.entries.write().unwrap_or_else(|p| p.into_inner());
            for e in events {
                entries.apply(e);
                self.evict_rows(e);
            }
        }
        let deadline = Instant::now() + self.0.gap_timeout;
        let mut tracker = self.tracker();
        for e in events {
            tracker.observe(e.seq, deadline);
        }
        self.publish(&tracker);
    }

    fn publish(&self, tracker: &Tracker) {
        let applied = tracker.applied();
        self.0.applied.send_if_modified(|v| {
            let moved = *v != applied;
            *v = applied;
            moved
        });
    }

    /// Read the log if it has anything this view has not seen: one read of
    /// `max(seq)` otherwise.
    pub(crate) async fn sync(&self) -> Result<(), DbErr> {
        let newest = revocation_log::max_seq(&self.0.db).await?;
        let behind = {
            let t = self.tracker();
            newest > t.max_seen || !t.gaps.is_empty()
        };
        if behind {
            self.catch_up().await?;
        }
        self.synced();
        Ok(())
    }

    fn synced(&self) {
        *self.0.synced_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Time since the log was last read successfully.
    pub fn since_synced(&self) -> Duration {
        self.0
            .synced_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// Events committed to the log that this view has not applied yet
    /// (one read of `max(seq)`).
    pub async fn lag(&self) -> Result<i64, DbErr> {
        let newest = revocation_log::max_seq(&self.0.db).await?;
        Ok((newest - self.applied()).max(0))
    }

    /// Read and apply every event after the highest seen, and the gaps.
    pub(crate) async fn catch_up(&self) -> Result<(), DbErr> {
        let _one_reader = self.0.reading.lock().await;
        loop {
            let (from, gaps) = {
                let t = self.tracker();
                (t.max_seen, t.gaps.keys().copied().collect::<Vec<_>>())
            };
            let mut records = revocation_log::after(&self.0.db, from, BATCH).await?;
            let more = records.len() as u64 == BATCH;
            records.extend(revocation_log::by_seqs(&self.0.db, &gaps).await?);
            self.absorb(records);
            if !more {
                self.synced();
                return Ok(());
            }
        }
    }

    fn absorb(&self, records: Vec<EventRecord>) {
        let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
        let events: Vec<Event> = records.into_iter().filter_map(Event::from_record).collect();
        {
            let mut entries = self.0.entries.write().unwrap_or_else(|p| p.into_inner());
            for e in &events {
                entries.apply(e);
                self.evict_rows(e);
            }
        }
        let now = Instant::now();
        let mut tracker = self.tracker();
        for seq in seqs {
            tracker.observe(seq, now + self.0.gap_timeout);
        }
        let given_up: Vec<i64> = tracker
            .gaps
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in given_up {
            tracker.gaps.remove(&seq);
            tracing::debug!(
                seq,
                "revocation log sequence number never committed (a rolled-back transaction)"
            );
        }
        self.publish(&tracker);
    }

    /// Drop set entries no live token can match any more.
    pub(crate) fn forget_expired(&self) {
        let now = self.0.clock.now();
        self.0
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .forget_expired(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, kind: Kind, version: Option<i64>) -> Event {
        Event {
            seq,
            kind,
            created_at: 0,
            user_id: Some("u".into()),
            session_id: None,
            client_id: Some("c".into()),
            grant_id: None,
            jti: None,
            token_hash: None,
            kid: None,
            version,
            reason: None,
            initiator: super::super::event::Initiator::Admin,
            retain_until: 100,
        }
    }

    #[test]
    fn flags_follow_the_newest_event_whatever_the_order_applied() {
        let mut e = Entries::default();
        e.apply(&event(7, Kind::UserEnabled, Some(1)));
        e.apply(&event(5, Kind::UserDisabled, Some(1)));
        assert_eq!(
            e.users["u"].standing,
            Standing {
                version: 1,
                disabled: false
            }
        );
        e.apply(&event(9, Kind::ClientDisabled, Some(4)));
        e.apply(&event(8, Kind::ClientTokensVoided, Some(3)));
        assert_eq!(
            e.clients["c"].standing,
            Standing {
                version: 4,
                disabled: true
            }
        );
    }

    #[test]
    fn missing_sequence_numbers_hold_the_watermark_until_filled() {
        let deadline = Instant::now();
        let mut t = Tracker {
            max_seen: 3,
            gaps: BTreeMap::new(),
        };
        t.observe(6, deadline);
        assert_eq!(t.max_seen, 6);
        assert_eq!(t.applied(), 3);
        t.observe(4, deadline);
        assert_eq!(t.applied(), 4);
        t.observe(5, deadline);
        assert_eq!(t.applied(), 6);
        assert!(t.gaps.is_empty());
    }
}
