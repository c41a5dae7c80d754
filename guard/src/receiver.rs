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
use crate::error::{GuardError, Reason};
use crate::events::{self, Event};
use crate::health::{Health, Phase};
use crate::jwks::Jwks;
use crate::jwt::{self, Algorithm, VerifyError};
use crate::provider::{TokenSource, check_url, get_json};
use crate::revocation::RevocationSet;

/// RFC 8936: poll-based delivery.
const POLL_METHOD: &str = "urn:ietf:rfc:8936";
/// The scope of the guard's token for the stream management API.
pub(crate) const MANAGE_SCOPE: &str = "ssf.manage";
const MAX_EVENTS: u64 = 200;
const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(10);
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
struct Transmitter {
    configuration_endpoint: String,
    verification_endpoint: String,
    /// SSF 1.0 §8.1.2.1, if advertised.
    status_endpoint: Option<String>,
    jwks: Arc<Jwks>,
}

/// A stream this process polls.
struct Stream {
    id: String,
    endpoint: String,
    audiences: Vec<String>,
    /// `state` values of verification requests made on this stream.
    states: HashSet<String>,
    verify_requested_at: i64,
    min_verification_interval_ms: i64,
    verified: bool,
    live: bool,
}

#[derive(Debug)]
enum PollError {
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
    fn now_ms(&self) -> i64 {
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

    async fn bearer(&self) -> Result<String, GuardError> {
        Ok(format!(
            "Bearer {}",
            self.tokens.get(self.clock.now()).await?
        ))
    }

    /// SSF 1.0 §7.2: "/.well-known/ssf-configuration" goes between the host
    /// and the issuer's path.
    async fn transmitter(&self) -> Result<Transmitter, GuardError> {
        let issuer =
            url::Url::parse(&self.issuer).map_err(|e| GuardError::Config(e.to_string()))?;
        let mut url = issuer.clone();
        let path = issuer.path().trim_end_matches('/');
        url.set_path(&format!("/.well-known/ssf-configuration{path}"));
        let doc = get_json(&self.http, "transmitter metadata", url.as_str()).await?;
        // SSF 1.0 §7.3: the issuer is exactly the one we asked.
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(GuardError::invalid(
                "transmitter metadata",
                "issuer mismatch",
            ));
        }
        let url_of = |name: &'static str| -> Result<String, GuardError> {
            let value = doc
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| GuardError::invalid("transmitter metadata", format!("no {name}")))?;
            check_url(name, value)?;
            Ok(value.to_owned())
        };
        if let Some(methods) = doc
            .get("delivery_methods_supported")
            .and_then(Value::as_array)
            && !methods.iter().any(|m| m == POLL_METHOD)
        {
            return Err(GuardError::invalid(
                "transmitter metadata",
                "poll delivery (RFC 8936) not supported",
            ));
        }
        // SSF 1.0 §7.1 `default_subjects`: with NONE, a new stream would
        // carry no one's events until subjects were added one by one.
        if doc.get("default_subjects").and_then(Value::as_str) == Some("NONE") {
            return Err(GuardError::invalid(
                "transmitter metadata",
                "default_subjects is NONE: the guard needs every subject's events",
            ));
        }
        let jwks_uri = url_of("jwks_uri")?;
        let jwks = if jwks_uri == self.provider_jwks_uri {
            self.provider_jwks.clone()
        } else {
            Arc::new(
                Jwks::load(
                    jwks_uri,
                    self.http.clone(),
                    self.clock.clone(),
                    self.algorithms.clone(),
                    self.jwks_min_refresh,
                )
                .await?,
            )
        };
        let status_endpoint = match doc.get("status_endpoint") {
            Some(_) => Some(url_of("status_endpoint")?),
            None => None,
        };
        Ok(Transmitter {
            configuration_endpoint: url_of("configuration_endpoint")?,
            verification_endpoint: url_of("verification_endpoint")?,
            status_endpoint,
            jwks,
        })
    }

    /// Reuse this process's stream if the transmitter still has it,
    /// otherwise create one (SSF 1.0 §8.1.1.1), then request verification.
    async fn open_stream(
        &self,
        tx: &Transmitter,
        previous: Option<&str>,
    ) -> Result<Stream, GuardError> {
        let config = match previous {
            Some(id) => match self.read(&tx.configuration_endpoint, id).await? {
                Some(config) => {
                    tracing::info!(stream_id = %id, "reusing the stream");
                    config
                }
                None => self.create(&tx.configuration_endpoint).await?,
            },
            None => self.create(&tx.configuration_endpoint).await?,
        };
        let mut stream = self.stream_from(&config)?;
        self.request_verification(tx, &mut stream).await?;
        self.health.set_phase(Phase::Starting);
        Ok(stream)
    }

    async fn create(&self, endpoint: &str) -> Result<Value, GuardError> {
        let response = self
            .http
            .post(endpoint)
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .json(&json!({
                "delivery": { "method": POLL_METHOD },
                "events_requested": events::REQUESTED,
                "description": self.description,
            }))
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "create stream",
                source,
            })?;
        match response.status() {
            s if s.is_success() => {}
            // SSF 1.0 §8.1.1.1: one stream per receiver; read and reuse it.
            reqwest::StatusCode::CONFLICT => {
                tracing::warn!(
                    "the transmitter allows one stream per receiver: reusing it; revocations \
                     acknowledged by an earlier receiver process are not replayed"
                );
                return self.existing(endpoint).await;
            }
            status => {
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    self.tokens.invalidate();
                }
                return Err(GuardError::Status {
                    what: "create stream",
                    status,
                });
            }
        }
        let config: Value = response.json().await.map_err(|source| GuardError::Http {
            what: "create stream",
            source,
        })?;
        tracing::info!(stream_id = %config.get("stream_id").unwrap_or(&serde_json::Value::Null), "stream created");
        Ok(config)
    }

    /// SSF 1.0 §8.1.1.2: a stream's configuration, `None` if it is gone.
    async fn read(&self, endpoint: &str, id: &str) -> Result<Option<Value>, GuardError> {
        let response = self
            .http
            .get(endpoint)
            .query(&[("stream_id", id)])
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "read stream",
                source,
            })?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                response
                    .json()
                    .await
                    .map(Some)
                    .map_err(|source| GuardError::Http {
                        what: "read stream",
                        source,
                    })
            }
            status => Err(GuardError::Status {
                what: "read stream",
                status,
            }),
        }
    }

    /// SSF 1.0 §8.1.1.2 without `stream_id`: the receiver's streams; the
    /// first poll stream is used.
    async fn existing(&self, endpoint: &str) -> Result<Value, GuardError> {
        let response = self
            .http
            .get(endpoint)
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "list streams",
                source,
            })?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what: "list streams",
                status: response.status(),
            });
        }
        let list: Value = response.json().await.map_err(|source| GuardError::Http {
            what: "list streams",
            source,
        })?;
        let streams = match list {
            Value::Array(items) => items,
            single @ Value::Object(_) => vec![single],
            _ => Vec::new(),
        };
        streams
            .into_iter()
            .find(|s| s.pointer("/delivery/method").and_then(Value::as_str) == Some(POLL_METHOD))
            .ok_or_else(|| GuardError::invalid("list streams", "no poll stream to reuse"))
    }

    async fn delete(&self, endpoint: &str, id: &str) -> Result<(), GuardError> {
        self.http
            .delete(endpoint)
            .query(&[("stream_id", id)])
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "delete stream",
                source,
            })?;
        Ok(())
    }

    /// SSF 1.0 §8.1.1.1: check what the transmitter answered.
    fn stream_from(&self, config: &Value) -> Result<Stream, GuardError> {
        let bad = |detail: &str| GuardError::invalid("stream configuration", detail.to_owned());
        // "The Receiver MUST check the response and confirm that the iss
        // value matches the Issuer from which it received the Transmitter
        // Configuration data."
        if config.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(bad("iss is not the issuer"));
        }
        if config.pointer("/delivery/method").and_then(Value::as_str) != Some(POLL_METHOD) {
            return Err(bad("delivery method is not poll (RFC 8936)"));
        }
        let endpoint = config
            .pointer("/delivery/endpoint_url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no delivery endpoint_url"))?;
        check_url("endpoint_url", endpoint)?;
        let id = config
            .get("stream_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no stream_id"))?;
        let audiences = crate::access_token::audiences(config.get("aud")).unwrap_or_default();
        if let Some(delivered) = config.get("events_delivered").and_then(Value::as_array) {
            for wanted in [events::SESSION_REVOKED, events::TOKENS_REVOKED] {
                if !delivered.iter().any(|d| d == wanted) {
                    tracing::warn!(
                        event_type = wanted,
                        "the transmitter will not deliver this event type"
                    );
                }
            }
        }
        Ok(Stream {
            id: id.to_owned(),
            endpoint: endpoint.to_owned(),
            audiences,
            states: HashSet::new(),
            verify_requested_at: 0,
            min_verification_interval_ms: config
                .get("min_verification_interval")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                * 1000,
            verified: false,
            live: false,
        })
    }

    /// SSF 1.0 §8.1.4.2: ask for a verification event with a fresh `state`.
    async fn request_verification(
        &self,
        tx: &Transmitter,
        s: &mut Stream,
    ) -> Result<(), GuardError> {
        let mut random = [0u8; 16];
        openssl::rand::rand_bytes(&mut random).map_err(|e| GuardError::Config(e.to_string()))?;
        let state: String = random.iter().map(|b| format!("{b:02x}")).collect();
        s.verify_requested_at = self.now_ms();
        let response = self
            .http
            .post(&tx.verification_endpoint)
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .json(&json!({ "stream_id": s.id, "state": state }))
            .send()
            .await
            .map_err(|source| GuardError::Http {
                what: "verification request",
                source,
            })?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what: "verification request",
                status: response.status(),
            });
        }
        s.states.insert(state);
        Ok(())
    }

    /// SSF 1.0 §8.1.2.1: whether the stream is `enabled` (true without a
    /// status endpoint: then only stream-updated events tell).
    async fn status(&self, tx: &Transmitter, s: &Stream) -> Result<bool, PollError> {
        let Some(endpoint) = &tx.status_endpoint else {
            return Ok(true);
        };
        let token = self
            .bearer()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        let response = self
            .http
            .get(endpoint)
            .query(&[("stream_id", s.id.as_str())])
            .header(reqwest::header::AUTHORIZATION, token)
            .timeout(MANAGEMENT_TIMEOUT.min(self.poll_timeout))
            .send()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        match response.status() {
            reqwest::StatusCode::UNAUTHORIZED => return Err(PollError::Unauthorized),
            reqwest::StatusCode::NOT_FOUND => return Err(PollError::StreamGone),
            st if !st.is_success() => return Err(PollError::Failed(format!("HTTP {st}"))),
            _ => {}
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| PollError::Failed(e.to_string()))?;
        Ok(body.get("status").and_then(Value::as_str) == Some("enabled"))
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

    /// RFC 8417: the SET's type, signature, issuer and audience.
    async fn validate(
        &self,
        tx: &Transmitter,
        s: &Stream,
        jti: &str,
        set: &str,
    ) -> Result<Map<String, Value>, (&'static str, String)> {
        let refused = |code: &'static str, r: Reason| (code, r.description().to_owned());
        let header = jwt::header(set).map_err(|r| refused("invalid_request", r))?;
        // RFC 8417 §2.3: explicit typing `secevent+jwt` keeps other JWTs
        // (ID tokens, access tokens) from passing for SETs.
        if !jwt::typ_is(header.typ.as_deref(), "secevent+jwt") {
            return Err(("invalid_request", "typ is not secevent+jwt".into()));
        }
        let mut result = jwt::verify(set, header, &tx.jwks.current(), &self.algorithms);
        if result.as_ref().err() == Some(&VerifyError::UnknownKey)
            && let Some(keys) = tx.jwks.refresh_for_unknown_kid().await
        {
            let header = jwt::header(set).map_err(|r| refused("invalid_request", r))?;
            result = jwt::verify(set, header, &keys, &self.algorithms);
        }
        let verified = match result {
            Ok(v) => v,
            Err(VerifyError::UnknownKey) => {
                return Err(("invalid_key", "unknown signing key".into()));
            }
            Err(VerifyError::Rejected(r)) => return Err(refused("invalid_key", r)),
        };
        let claims = verified.claims;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(("invalid_issuer", "iss is not the transmitter".into()));
        }
        if !s.audiences.is_empty() {
            let aud = crate::access_token::audiences(claims.get("aud")).unwrap_or_default();
            if !aud.iter().any(|a| s.audiences.contains(a)) {
                return Err(("invalid_audience", "aud is not this stream's".into()));
            }
        }
        // RFC 8936 §2.3: the member name is the SET's jti.
        if claims.get("jti").and_then(Value::as_str) != Some(jti) {
            return Err(("invalid_request", "jti does not match".into()));
        }
        // RFC 8417 §2.2: iat is required.
        if claims.get("iat").and_then(Value::as_i64).is_none() {
            return Err(("invalid_request", "no iat".into()));
        }
        Ok(claims)
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
