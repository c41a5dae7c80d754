//! The key schedule as pure functions of (keys, now): each key's state, and
//! what the scheduler or `signoff keys rotate` must change. Applying the
//! steps is `rotation.rs`; these functions never touch the database (except
//! `Schedule::load`, which reads the settings that shape the schedule).

use sea_orm::{ConnectionTrait, DbErr};

use super::keystore::{Scheduled, newest_signer};
use crate::config::Config;
use crate::jws::Algorithm;
use crate::store::keys::{self as key_rows, SigningKeyRecord};

/// The timings of the lifecycle, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How long a key signs before its successor takes over.
    pub rotate_every: i64,
    /// How long a key is published before it may sign: a relying party that
    /// fetched the JWKS just before the key appeared on the slowest instance
    /// (one refresh interval) keeps that copy for one cache lifetime, and
    /// instance clocks may disagree by the skew.
    pub publish_lead: i64,
    /// How long a retired key stays published: until the last token it
    /// signed has expired, plus skew and one refresh interval (an instance
    /// that has not yet reloaded may sign with it that much longer).
    pub retention: i64,
}

impl Schedule {
    /// The schedule for `config`, covering per-client access token lifetimes
    /// longer than the configured default.
    pub async fn load(config: &Config, db: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let longest_client_ttl = key_rows::longest_client_access_token_ttl(db).await?;
        Ok(Self::new(config, longest_client_ttl.unwrap_or(0)))
    }

    pub fn new(config: &Config, longest_client_ttl: i64) -> Self {
        let secs = |d: std::time::Duration| d.as_secs() as i64;
        let k = &config.keys;
        let t = &config.tokens;
        let longest_token = secs(t.access_token_ttl)
            .max(secs(t.id_token_ttl))
            .max(longest_client_ttl);
        Schedule {
            rotate_every: secs(k.rotate_every),
            publish_lead: secs(k.publish_lead()),
            retention: longest_token + secs(k.clock_skew) + secs(k.refresh_interval),
        }
    }
}

impl Scheduled for SigningKeyRecord {
    fn activates_at(&self) -> i64 {
        self.activates_at
    }
    fn retires_at(&self) -> Option<i64> {
        self.retires_at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, signs from `activates_at`.
    Next,
    /// Signs.
    Current,
    /// Published so the tokens it signed verify; signs no more.
    Retired,
    /// Gone from the JWKS; its tokens are no longer accepted.
    Removed,
}

impl KeyState {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
}

/// The state of each of `keys` (any algorithms, removed ones included) at `now`.
pub fn key_states(keys: &[SigningKeyRecord], now: i64) -> Vec<KeyState> {
    let signers: Vec<&str> = Algorithm::ALL
        .iter()
        .filter_map(|alg| newest_signer(live_of(keys, *alg), now).map(|k| k.kid.as_str()))
        .collect();
    keys.iter()
        .map(|k| {
            if k.removed_at.is_some() {
                KeyState::Removed
            } else if k.activates_at > now {
                KeyState::Next
            } else if signers.contains(&k.kid.as_str()) {
                KeyState::Current
            } else {
                KeyState::Retired
            }
        })
        .collect()
}

fn live_of(keys: &[SigningKeyRecord], alg: Algorithm) -> impl Iterator<Item = &SigningKeyRecord> {
    keys.iter()
        .filter(move |k| k.alg == alg.as_str() && k.removed_at.is_none())
}

/// One change to the keys of an algorithm. `from` values are what the plan
/// saw: the update applies only if the row still holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No key signs and none is waiting: a new key signs from `activates_at`.
    CreateCurrent {
        activates_at: i64,
    },
    /// Publish a successor of `current`, which retires when it activates.
    CreateNext {
        current: String,
        current_retires_at: Option<i64>,
        activates_at: i64,
    },
    Activate {
        kid: String,
        from: i64,
        to: i64,
    },
    Retire {
        kid: String,
        from: Option<i64>,
        to: Option<i64>,
    },
    Remove {
        kid: String,
    },
}

/// What the scheduler does for one algorithm at `now`, given its published
/// keys. Empty when the keys are as they should be.
pub fn plan(
    keys: &[SigningKeyRecord],
    alg: Algorithm,
    enabled: bool,
    now: i64,
    schedule: &Schedule,
) -> Vec<Step> {
    let live: Vec<&SigningKeyRecord> = live_of(keys, alg).collect();
    let removable = |k: &SigningKeyRecord| {
        k.retires_at
            .is_some_and(|r| r <= now && r + schedule.retention <= now)
    };
    if !enabled {
        // A disabled algorithm winds down: its current key retires now, a
        // waiting key (which never signed) goes, the rest age out.
        return live
            .iter()
            .filter_map(|k| {
                if k.activates_at > now {
                    Some(Step::Remove { kid: k.kid.clone() })
                } else if k.retires_at.is_none_or(|r| r > now) {
                    Some(Step::Retire {
                        kid: k.kid.clone(),
                        from: k.retires_at,
                        to: Some(now),
                    })
                } else if removable(k) {
                    Some(Step::Remove { kid: k.kid.clone() })
                } else {
                    None
                }
            })
            .collect();
    }
    let next = live
        .iter()
        .filter(|k| k.activates_at > now)
        .min_by_key(|k| k.activates_at);
    let Some(current) = newest_signer(live.iter().copied(), now) else {
        // Nothing signs (first start, or the current key was revoked): the
        // waiting key takes over at once, as it is at least published already.
        return vec![match next {
            Some(n) => Step::Activate {
                kid: n.kid.clone(),
                from: n.activates_at,
                to: free_instant(&live, now),
            },
            None => Step::CreateCurrent {
                activates_at: free_instant(&live, now),
            },
        }];
    };
    let mut steps = Vec::new();
    for k in &live {
        if k.kid == current.kid || k.activates_at > now {
            continue;
        }
        if k.retires_at.is_none_or(|r| r > now) {
            // Superseded but never given a retirement (two instances created
            // a first key at once): it retired when the newer key activated.
            steps.push(Step::Retire {
                kid: k.kid.clone(),
                from: k.retires_at,
                to: Some(current.activates_at),
            });
        } else if removable(k) {
            steps.push(Step::Remove { kid: k.kid.clone() });
        }
    }
    match next {
        None => steps.push(Step::CreateNext {
            current: current.kid.clone(),
            current_retires_at: current.retires_at,
            activates_at: free_instant(
                &live,
                (current.activates_at + schedule.rotate_every).max(now + schedule.publish_lead),
            ),
        }),
        Some(n) if current.retires_at != Some(n.activates_at) => steps.push(Step::Retire {
            kid: current.kid.clone(),
            from: current.retires_at,
            to: Some(n.activates_at),
        }),
        Some(_) => {}
    }
    steps
}

/// `signoff keys rotate`: the waiting key signs from now, or, if it has not
/// been published for the full lead yet, from the first instant it has.
/// Returns the steps, the promoted key and when it signs.
pub fn plan_rotation(
    keys: &[SigningKeyRecord],
    alg: Algorithm,
    now: i64,
    schedule: &Schedule,
) -> Option<(Vec<Step>, String, i64)> {
    let live: Vec<&SigningKeyRecord> = live_of(keys, alg).collect();
    let current = newest_signer(live.iter().copied(), now)?;
    let next = live
        .iter()
        .filter(|k| k.activates_at > now)
        .min_by_key(|k| k.activates_at)?;
    let others: Vec<&SigningKeyRecord> =
        live.iter().copied().filter(|k| k.kid != next.kid).collect();
    let at = free_instant(&others, now.max(next.created_at + schedule.publish_lead));
    let mut steps = Vec::new();
    if next.activates_at != at {
        steps.push(Step::Activate {
            kid: next.kid.clone(),
            from: next.activates_at,
            to: at,
        });
    }
    if current.retires_at != Some(at) {
        steps.push(Step::Retire {
            kid: current.kid.clone(),
            from: current.retires_at,
            to: Some(at),
        });
    }
    Some((steps, next.kid.clone(), at))
}

/// The first second from `at` on that no published key of the algorithm
/// activates at (the unique index allows one per instant).
fn free_instant(keys: &[&SigningKeyRecord], at: i64) -> i64 {
    let mut t = at;
    while keys.iter().any(|k| k.activates_at == t) {
        t += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const SCHEDULE: Schedule = Schedule {
        rotate_every: 30 * DAY,
        publish_lead: 3_665,
        retention: 3_665,
    };
    const RS: Algorithm = Algorithm::Rs256;

    fn key(
        kid: &str,
        created_at: i64,
        activates_at: i64,
        retires_at: Option<i64>,
    ) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            alg: "RS256".into(),
            private_jwk: String::new(),
            public_jwk: String::new(),
            created_at,
            activates_at,
            retires_at,
            removed_at: None,
        }
    }

    /// Apply steps to in-memory rows as the database would.
    fn apply(
        keys: &mut Vec<SigningKeyRecord>,
        steps: Vec<Step>,
        now: i64,
        names: &mut impl Iterator<Item = &'static str>,
    ) {
        for step in steps {
            match step {
                Step::CreateCurrent { activates_at } => {
                    keys.push(key(names.next().unwrap(), now, activates_at, None))
                }
                Step::CreateNext {
                    current,
                    current_retires_at,
                    activates_at,
                } => {
                    let c = keys.iter_mut().find(|k| k.kid == current).unwrap();
                    assert_eq!(c.retires_at, current_retires_at);
                    c.retires_at = Some(activates_at);
                    keys.push(key(names.next().unwrap(), now, activates_at, None));
                }
                Step::Activate { kid, from, to } => {
                    let k = keys.iter_mut().find(|k| k.kid == kid).unwrap();
                    assert_eq!(k.activates_at, from);
                    k.activates_at = to;
                }
                Step::Retire { kid, from, to } => {
                    let k = keys.iter_mut().find(|k| k.kid == kid).unwrap();
                    assert_eq!(k.retires_at, from);
                    k.retires_at = to;
                }
                Step::Remove { kid } => {
                    keys.iter_mut().find(|k| k.kid == kid).unwrap().removed_at = Some(now)
                }
            }
        }
    }

    fn settle(
        keys: &mut Vec<SigningKeyRecord>,
        now: i64,
        names: &mut impl Iterator<Item = &'static str>,
    ) {
        for _ in 0..6 {
            let steps = plan(keys, RS, true, now, &SCHEDULE);
            if steps.is_empty() {
                return;
            }
            apply(keys, steps, now, names);
        }
        panic!("plan does not settle: {keys:?}");
    }

    fn state(keys: &[SigningKeyRecord], kid: &str, now: i64) -> KeyState {
        let i = keys.iter().position(|k| k.kid == kid).unwrap();
        key_states(keys, now)[i]
    }

    #[test]
    fn first_start_creates_a_current_key_and_a_next_one() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b"].into_iter();
        settle(&mut keys, t0, &mut names);
        assert_eq!(keys.len(), 2);
        assert_eq!(state(&keys, "a", t0), KeyState::Current);
        assert_eq!(state(&keys, "b", t0), KeyState::Next);
        assert_eq!(keys[1].activates_at, t0 + 30 * DAY);
        assert_eq!(keys[0].retires_at, Some(t0 + 30 * DAY));
    }

    #[test]
    fn next_becomes_current_then_retired_then_removed() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b", "c", "d"].into_iter();
        settle(&mut keys, t0, &mut names);
        let switch = t0 + 30 * DAY;

        // Just before the switch nothing changes and `a` still signs.
        assert!(plan(&keys, RS, true, switch - 1, &SCHEDULE).is_empty());
        assert_eq!(state(&keys, "a", switch - 1), KeyState::Current);
        // At the switch `b` signs without any write; the scheduler then
        // publishes `c`, a full rotation ahead.
        assert_eq!(state(&keys, "b", switch), KeyState::Current);
        assert_eq!(state(&keys, "a", switch), KeyState::Retired);
        settle(&mut keys, switch, &mut names);
        let c = keys.iter().find(|k| k.kid == "c").unwrap();
        assert_eq!(c.activates_at, switch + 30 * DAY);
        assert_eq!(state(&keys, "c", switch), KeyState::Next);

        // `a` stays published for the retention, then goes.
        assert!(plan(&keys, RS, true, switch + SCHEDULE.retention - 1, &SCHEDULE).is_empty());
        assert_eq!(
            plan(&keys, RS, true, switch + SCHEDULE.retention, &SCHEDULE),
            vec![Step::Remove { kid: "a".into() }]
        );
        settle(&mut keys, switch + SCHEDULE.retention, &mut names);
        assert_eq!(
            state(&keys, "a", switch + SCHEDULE.retention),
            KeyState::Removed
        );
        assert_eq!(
            state(&keys, "b", switch + SCHEDULE.retention),
            KeyState::Current
        );
    }

    #[test]
    fn successor_is_never_scheduled_sooner_than_the_publish_lead() {
        // A server down for months: its current key is long overdue.
        let t0 = 1_000_000;
        let keys = vec![key("old", t0, t0, None)];
        let now = t0 + 100 * DAY;
        let steps = plan(&keys, RS, true, now, &SCHEDULE);
        assert_eq!(
            steps,
            vec![Step::CreateNext {
                current: "old".into(),
                current_retires_at: None,
                activates_at: now + SCHEDULE.publish_lead,
            }]
        );
    }

    #[test]
    fn manual_rotation_waits_until_the_next_key_is_published_long_enough() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b", "c"].into_iter();
        settle(&mut keys, t0, &mut names);

        // Right after `b` appeared, it may only sign once cached JWKS expired.
        let (steps, promoted, at) = plan_rotation(&keys, RS, t0 + 10, &SCHEDULE).unwrap();
        assert_eq!(promoted, "b");
        assert_eq!(at, t0 + SCHEDULE.publish_lead);

        // Later, it signs at once and `c` is published.
        let now = t0 + DAY;
        let (steps_later, _, at_later) = plan_rotation(&keys, RS, now, &SCHEDULE).unwrap();
        assert_eq!(at_later, now);
        assert_ne!(steps, steps_later);
        apply(&mut keys, steps_later, now, &mut names);
        settle(&mut keys, now, &mut names);
        assert_eq!(state(&keys, "a", now), KeyState::Retired);
        assert_eq!(state(&keys, "b", now), KeyState::Current);
        assert_eq!(state(&keys, "c", now), KeyState::Next);
        assert_eq!(keys[2].activates_at, now + 30 * DAY);
        assert_eq!(keys[0].retires_at, Some(now));
    }

    #[test]
    fn revoking_the_current_key_promotes_next_at_once() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b", "c"].into_iter();
        settle(&mut keys, t0, &mut names);
        // Same second as `a` activated: the partial unique index ignores
        // removed keys, so `b` may take the very same instant.
        keys[0].removed_at = Some(t0);
        let steps = plan(&keys, RS, true, t0, &SCHEDULE);
        assert_eq!(
            steps,
            vec![Step::Activate {
                kid: "b".into(),
                from: t0 + 30 * DAY,
                to: t0
            }]
        );
        settle(&mut keys, t0, &mut names);
        assert_eq!(state(&keys, "b", t0), KeyState::Current);
        assert_eq!(state(&keys, "c", t0), KeyState::Next);
    }

    #[test]
    fn revoking_the_next_key_schedules_a_new_one() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b", "c"].into_iter();
        settle(&mut keys, t0, &mut names);
        keys[1].removed_at = Some(t0 + 5);
        let steps = plan(&keys, RS, true, t0 + 5, &SCHEDULE);
        // `a` was due to retire when `b` activated; the new key takes over
        // that slot (compare-and-set on the old retirement time).
        assert_eq!(
            steps,
            vec![Step::CreateNext {
                current: "a".into(),
                current_retires_at: Some(t0 + 30 * DAY),
                activates_at: t0 + 30 * DAY,
            }]
        );
    }

    #[test]
    fn two_first_keys_from_a_start_race_are_reconciled() {
        let keys = vec![key("a", 100, 100, None), key("b", 102, 102, None)];
        let steps = plan(&keys, RS, true, 110, &SCHEDULE);
        assert!(steps.contains(&Step::Retire {
            kid: "a".into(),
            from: None,
            to: Some(102)
        }));
        assert_eq!(state(&keys, "b", 110), KeyState::Current);
    }

    #[test]
    fn disabled_algorithm_winds_down() {
        let t0 = 1_000_000;
        let mut keys = Vec::new();
        let mut names = ["a", "b"].into_iter();
        settle(&mut keys, t0, &mut names);
        let now = t0 + 10;
        let steps = plan(&keys, RS, false, now, &SCHEDULE);
        assert_eq!(
            steps,
            vec![
                Step::Retire {
                    kid: "a".into(),
                    from: Some(t0 + 30 * DAY),
                    to: Some(now)
                },
                Step::Remove { kid: "b".into() },
            ]
        );
        apply(&mut keys, steps, now, &mut names);
        assert!(plan(&keys, RS, false, now + SCHEDULE.retention - 1, &SCHEDULE).is_empty());
        assert_eq!(
            plan(&keys, RS, false, now + SCHEDULE.retention, &SCHEDULE),
            vec![Step::Remove { kid: "a".into() }]
        );
    }

    #[test]
    fn keys_of_other_algorithms_are_left_alone() {
        let mut es = key("e", 0, 0, None);
        es.alg = "ES256".into();
        assert_eq!(
            plan(&[es], RS, true, 10, &SCHEDULE),
            vec![Step::CreateCurrent { activates_at: 10 }]
        );
    }
}
