//! The Shared Signals receiver: finds the transmitter (SSF 1.0 §7), creates
//! its poll stream or reuses it (§8.1.1), has it verified (§8.1.4), then
//! long-polls it (RFC 8936), validating every SET (RFC 8417) before applying
//! it to the revocation set and acknowledging it.
//!
//! A stream created by this process starts empty of history only if the
//! transmitter does not replay it: the revocation contract has a new stream
//! begin with every revocation still within its `retain_until`, queued before
//! the stream is returned. The feed counts as live once the verification
//! event has arrived and a poll has come back with nothing more available.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::clock::{Clock, unix_millis, unix_seconds};
use crate::error::GuardError;
use crate::events::{self, Event};
use crate::health::{Health, Phase};
use crate::jwks::Jwks;
use crate::jwt::Algorithm;
use crate::provider::TokenSource;
use crate::revocation::RevocationSet;
use crate::set_validation::{self, Expected, SetError};

/// RFC 8936: poll-based delivery.
pub(crate) const POLL_METHOD: &str = "urn:ietf:rfc:8936";
/// The scope of the guard's token for the stream management API.
pub(crate) const MANAGE_SCOPE: &str = "ssf.manage";
const MAX_EVENTS: u64 = 200;
pub(crate) const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_LAST: Duration = Duration::from_secs(2);
/// Ask again for verification if it has not come this long after asking.
const VERIFY_RETRY_MS: i64 = 10_000;

/// What the receiver needs, shared with the guard.
pub(crate) struct Feed {
    pub http: reqwest::Client,
    pub issuer: String,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<Health>,
    pub revocations: Arc<RevocationSet>,
    pub tokens: TokenSource,
    pub provider_jwks: Arc<Jwks>,
    pub provider_jwks_uri: String,
    pub algorithms: Vec<Algorithm>,
    pub jwks_min_refresh: Duration,
    pub default_retention_s: i64,
    pub poll_timeout: Duration,
    pub description: String,
    /// The stream of this process, for deletion at shutdown.
    pub current: Mutex<Option<(String, String)>>,
}

/// The transmitter's metadata (SSF 1.0 §7.1).
pub(crate) struct Transmitter {
    pub(crate) configuration_endpoint: String,
    pub(crate) verification_endpoint: String,
    /// SSF 1.0 §8.1.2.1, if advertised.
    pub(crate) status_endpoint: Option<String>,
    pub(crate) jwks: Arc<Jwks>,
}

/// A stream this process polls.
pub(crate) struct Stream {
    pub(crate) id: String,
    pub(crate) endpoint: String,
    pub(crate) audiences: Vec<String>,
    /// `state` values of verification requests made on this stream.
    pub(crate) states: HashSet<String>,
    pub(crate) verify_requested_at: i64,
    pub(crate) min_verification_interval_ms: i64,
    pub(crate) verified: bool,
    pub(crate) live: bool,
}

#[derive(Debug)]
pub(crate) enum PollError {
    Unauthorized,
    /// The stream is gone (deleted, or disabled by the transmitter).
    StreamGone,
    Failed(String),
}

struct Backoff(Duration);

impl Backoff {
    fn reset(&mut self) {
        self.0 = BACKOFF_FIRST;
    }
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(BACKOFF_LAST);
    }
}

impl Feed {
    pub(crate) fn now_ms(&self) -> i64 {
        unix_millis(self.clock.now())
    }

    /// Runs until the guard is dropped.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut backoff = Backoff(BACKOFF_FIRST);
        let mut transmitter: Option<Transmitter> = None;
        let mut stream: Option<Stream> = None;
        let mut previous_id: Option<String> = None;
        let mut acks: Vec<String> = Vec::new();
        let mut errors: Map<String, Value> = Map::new();
        loop {
            if transmitter.is_none() {
                match self.transmitter().await {
                    Ok(t) => transmitter = Some(t),
                    Err(e) => {
                        self.failed(&format!("transmitter metadata: {e}"));
                        backoff.wait().await;
                        continue;
                    }
                }
            }
            let tx = transmitter.as_ref().expect("set above");
            if stream.is_none() {
                match self.open_stream(tx, previous_id.as_deref()).await {
                    Ok(s) => {
                        previous_id = Some(s.id.clone());
                        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((tx.configuration_endpoint.clone(), s.id.clone()));
                        stream = Some(s);
                        acks.clear();
                        errors.clear();
                    }
                    Err(e) => {
                        self.failed(&format!("stream: {e}"));
                        // The metadata may have changed too.
                        transmitter = None;
                        backoff.wait().await;
                        continue;
                    }
                }
            }
            let s = stream.as_mut().expect("set above");
            if !s.verified
                && self.now_ms() - s.verify_requested_at
                    >= VERIFY_RETRY_MS.max(s.min_verification_interval_ms)
                && let Err(e) = self.request_verification(tx, s).await
            {
                tracing::warn!(error = %e, stream_id = %s.id, "verification request failed");
            }
            let started = self.now_ms();
            // SSF 1.0 §8.1.2: a paused or disabled stream answers polls with
            // nothing (events held or dropped) and the transmitter need not
            // say so (§8.1.5 stream-updated is for its own changes), so an
            // empty poll proves nothing until the status says `enabled`.
            match self.status(tx, s).await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = self.poll_ack_only(s, &acks, &errors).await;
                    self.drop_stream(tx, &mut stream, "the stream is paused or disabled")
                        .await;
                    continue;
                }
                Err(PollError::StreamGone) => {
                    self.drop_stream(tx, &mut stream, "the stream no longer exists")
                        .await;
                    previous_id = None;
                    continue;
                }
                Err(PollError::Unauthorized) => {
                    self.tokens.invalidate();
                    self.failed("the transmitter refused the guard's access token");
                    backoff.wait().await;
                    continue;
                }
                Err(PollError::Failed(e)) => {
                    self.failed(&format!("stream status: {e}"));
                    backoff.wait().await;
                    continue;
                }
            }
            match self.poll(s, &acks, &errors).await {
                Ok((sets, more)) => {
                    backoff.reset();
                    acks.clear();
                    errors.clear();
                    let mut gone = false;
                    for (jti, set) in sets {
                        match self.receive(tx, s, &jti, &set).await {
                            Ok(keep_stream) => {
                                acks.push(jti);
                                gone |= !keep_stream;
                            }
                            Err((code, description)) => {
                                self.health
                                    .counters
                                    .sets_refused
                                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                tracing::warn!(%jti, err = code, %description, "SET refused");
                                errors.insert(
                                    jti,
                                    json!({ "err": code, "description": description }),
                                );
                            }
                        }
                    }
                    if gone {
                        // Acknowledge what we have, then start a new stream:
                        // events of a disabled stream are not held for us.
                        let _ = self.poll_ack_only(s, &acks, &errors).await;
                        self.drop_stream(
                            tx,
                            &mut stream,
                            "the transmitter paused or disabled the stream",
                        )
                        .await;
                        continue;
                    }
                    if s.live {
                        self.health.polled(started);
                    } else if s.verified && !more {
                        s.live = true;
                        self.health.became_live(started);
                    } else {
                        self.health.polled(started);
                    }
                }
                Err(PollError::Unauthorized) => {
                    self.tokens.invalidate();
                    self.failed("the transmitter refused the guard's access token");
                    backoff.wait().await;
                }
                Err(PollError::StreamGone) => {
                    self.drop_stream(tx, &mut stream, "the stream no longer exists")
                        .await;
                    previous_id = None;
                }
                Err(PollError::Failed(e)) => {
                    self.failed(&format!("poll: {e}"));
                    backoff.wait().await;
                }
            }
        }
    }

    fn failed(&self, what: &str) {
        self.health
            .counters
            .poll_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.health.phase() == Phase::Live {
            self.health.set_phase(Phase::Retrying);
        }
        tracing::warn!(error = %what, "revocation feed");
    }

    async fn drop_stream(&self, tx: &Transmitter, stream: &mut Option<Stream>, why: &str) {
        if let Some(s) = stream.take() {
            tracing::warn!(stream_id = %s.id, why, "opening a new stream");
            // SSF 1.0 §8.1.1.5: delete it (best effort; it may be gone).
            let _ = self.delete(&tx.configuration_endpoint, &s.id).await;
        }
        self.health.set_phase(Phase::Starting);
    }

    pub(crate) async fn bearer(&self) -> Result<String, GuardError> {
        Ok(format!(
            "Bearer {}",
            self.tokens.get(self.clock.now()).await?
        ))
    }

    /// RFC 8936 §2.4.3/§2.4.4: acknowledge what was processed, report what
    /// was refused, and long-poll for more (§2.2 `returnImmediately: false`).
    async fn poll(
        &self,
        s: &Stream,
        acks: &[String],
        errors: &Map<String, Value>,
    ) -> Result<(Vec<(String, String)>, bool), PollError> {
        self.poll_request(s, acks, errors, false).await
    }

    async fn poll_ack_only(
        &self,
        s: &Stream,
        acks: &[String],
        errors: &Map<String, Value>,
    ) -> Result<(), PollError> {
        self.poll_request(s, acks, errors, true).await.map(|_| ())
    }

    async fn poll_request(
        &self,
        s: &Stream,
        acks: &[String],
        errors: &Map<String, Value>,
        ack_only: bool,
    ) -> Result<(Vec<(String, String)>, bool), PollError> {
        let token = self
            .bearer()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        let mut body = json!({
            // RFC 8936 §2.4.2: maxEvents 0 acknowledges without polling.
            "maxEvents": if ack_only { 0 } else { MAX_EVENTS },
            "returnImmediately": ack_only,
        });
        if !acks.is_empty() {
            body["ack"] = json!(acks);
        }
        if !errors.is_empty() {
            body["setErrs"] = Value::Object(errors.clone());
        }
        let response = self
            .http
            .post(&s.endpoint)
            .header(reqwest::header::AUTHORIZATION, token)
            // A poll must come back within the bound to vouch for anything.
            .timeout(self.poll_timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        match response.status() {
            reqwest::StatusCode::UNAUTHORIZED => return Err(PollError::Unauthorized),
            reqwest::StatusCode::NOT_FOUND => return Err(PollError::StreamGone),
            s if !s.is_success() => return Err(PollError::Failed(format!("HTTP {s}"))),
            _ => {}
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        // RFC 8936 §2.3: `sets` maps each SET's jti to the SET.
        let sets = body
            .get("sets")
            .and_then(Value::as_object)
            .ok_or_else(|| PollError::Failed("no sets in the poll response".into()))?
            .iter()
            .filter_map(|(jti, set)| set.as_str().map(|s| (jti.clone(), s.to_owned())))
            .collect();
        let more = body
            .get("moreAvailable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((sets, more))
    }

    /// Validate one SET and act on it. `Ok(false)`: the stream was paused or
    /// disabled. `Err`: an RFC 8935 §2.4 error code and a description.
    async fn receive(
        &self,
        tx: &Transmitter,
        s: &mut Stream,
        jti: &str,
        set: &str,
    ) -> Result<bool, (&'static str, String)> {
        let claims = self.validate(tx, s, jti, set).await?;
        let cx = events::Context {
            issuer: &self.issuer,
            now: unix_seconds(self.clock.now()),
            default_retention: self.default_retention_s,
        };
        let events = events::interpret(&claims, &cx).map_err(|e| ("invalid_request", e))?;
        let mut keep = true;
        for event in events {
            match event {
                Event::Revoke(revocation) => {
                    tracing::info!(?revocation, %jti, "revocation received");
                    self.revocations.apply(revocation);
                    self.health
                        .counters
                        .events_applied
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Event::Verification { state: Some(state) } if s.states.contains(&state) => {
                    tracing::info!(stream_id = %s.id, "stream verified");
                    s.verified = true;
                }
                // SSF 1.0 §8.1.4.1: a state we did not send.
                Event::Verification { state: Some(_) } => {
                    return Err(("invalid_state", "unexpected verification state".into()));
                }
                // Verification the transmitter started on its own.
                Event::Verification { state: None } => {}
                Event::StreamUpdated { status } => {
                    tracing::warn!(stream_id = %s.id, %status, "stream status changed by the transmitter");
                    if status != "enabled" {
                        keep = false;
                    }
                }
                Event::Nothing(why) => tracing::debug!(%jti, why, "SET needs no action"),
            }
        }
        Ok(keep)
    }

    /// RFC 8417: the SET's type, signature, issuer and audience, checked
    /// by `set_validation`; an unknown `kid` refreshes the transmitter's
    /// JWKS (rate-limited) and checks once more.
    async fn validate(
        &self,
        tx: &Transmitter,
        s: &Stream,
        jti: &str,
        set: &str,
    ) -> Result<Map<String, Value>, (&'static str, String)> {
        let expected = Expected {
            issuer: &self.issuer,
            audiences: &s.audiences,
            jti,
            algorithms: &self.algorithms,
        };
        let mut result = set_validation::validate(set, &tx.jwks.current(), &expected);
        if result.as_ref().err() == Some(&SetError::UnknownKey)
            && let Some(keys) = tx.jwks.refresh_for_unknown_kid().await
        {
            result = set_validation::validate(set, &keys, &expected);
        }
        result.map_err(SetError::refusal)
    }

    /// SSF 1.0 §8.1.1.5: delete this process's stream (at shutdown).
    pub(crate) async fn delete_current(&self) {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((endpoint, id)) = current {
            match self.delete(&endpoint, &id).await {
                Ok(()) => tracing::info!(stream_id = %id, "stream deleted"),
                Err(e) => tracing::warn!(stream_id = %id, error = %e, "stream not deleted"),
            }
        }
    }
}
