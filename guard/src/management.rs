//! Stream management for the receiver (SSF 1.0 §7, §8.1): the
//! transmitter's metadata, creating, reading, listing and deleting the
//! guard's poll stream, verification requests and the stream's status.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::GuardError;
use crate::events;
use crate::health::Phase;
use crate::jwks::Jwks;
use crate::provider::{check_url, get_json};
use crate::receiver::{Feed, MANAGEMENT_TIMEOUT, POLL_METHOD, PollError, Stream, Transmitter};

impl Feed {
    /// SSF 1.0 §7.2: "/.well-known/ssf-configuration" goes between the host
    /// and the issuer's path.
    pub(crate) async fn transmitter(&self) -> Result<Transmitter, GuardError> {
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
    pub(crate) async fn open_stream(
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

    /// A stream-management request sent with the receiver's bearer token
    /// (SSF 1.0 §8.1: every management call is authorized).
    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GuardError> {
        request
            .header(reqwest::header::AUTHORIZATION, self.bearer().await?)
            .timeout(MANAGEMENT_TIMEOUT)
            .send()
            .await
            .map_err(|source| GuardError::Http { what, source })
    }

    pub(crate) async fn create(&self, endpoint: &str) -> Result<Value, GuardError> {
        let what = "create stream";
        let request = self.http.post(endpoint).json(&json!({
            "delivery": { "method": POLL_METHOD },
            "events_requested": events::REQUESTED,
            "description": self.description,
        }));
        let response = self.send(what, request).await?;
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
                return Err(GuardError::Status { what, status });
            }
        }
        let config = json_body(what, response).await?;
        tracing::info!(stream_id = %config.get("stream_id").unwrap_or(&serde_json::Value::Null), "stream created");
        Ok(config)
    }

    /// SSF 1.0 §8.1.1.2: a stream's configuration, `None` if it is gone.
    pub(crate) async fn read(&self, endpoint: &str, id: &str) -> Result<Option<Value>, GuardError> {
        let what = "read stream";
        let request = self.http.get(endpoint).query(&[("stream_id", id)]);
        let response = self.send(what, request).await?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => json_body(what, response).await.map(Some),
            status => Err(GuardError::Status { what, status }),
        }
    }

    /// SSF 1.0 §8.1.1.2 without `stream_id`: the receiver's streams; the
    /// first poll stream is used.
    pub(crate) async fn existing(&self, endpoint: &str) -> Result<Value, GuardError> {
        let what = "list streams";
        let response = self.send(what, self.http.get(endpoint)).await?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what,
                status: response.status(),
            });
        }
        let list = json_body(what, response).await?;
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

    pub(crate) async fn delete(&self, endpoint: &str, id: &str) -> Result<(), GuardError> {
        let request = self.http.delete(endpoint).query(&[("stream_id", id)]);
        self.send("delete stream", request).await?;
        Ok(())
    }

    /// SSF 1.0 §8.1.1.1: check what the transmitter answered.
    pub(crate) fn stream_from(&self, config: &Value) -> Result<Stream, GuardError> {
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
    pub(crate) async fn request_verification(
        &self,
        tx: &Transmitter,
        s: &mut Stream,
    ) -> Result<(), GuardError> {
        let mut random = [0u8; 16];
        openssl::rand::rand_bytes(&mut random).map_err(|e| GuardError::Config(e.to_string()))?;
        let state: String = random.iter().map(|b| format!("{b:02x}")).collect();
        s.verify_requested_at = self.now_ms();
        let what = "verification request";
        let request = self
            .http
            .post(&tx.verification_endpoint)
            .json(&json!({ "stream_id": s.id, "state": state }));
        let response = self.send(what, request).await?;
        if !response.status().is_success() {
            return Err(GuardError::Status {
                what,
                status: response.status(),
            });
        }
        s.states.insert(state);
        Ok(())
    }

    /// SSF 1.0 §8.1.2.1: whether the stream is `enabled` (true without a
    /// status endpoint: then only stream-updated events tell).
    pub(crate) async fn status(&self, tx: &Transmitter, s: &Stream) -> Result<bool, PollError> {
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
}

/// A management response's JSON body.
async fn json_body(what: &'static str, response: reqwest::Response) -> Result<Value, GuardError> {
    response
        .json()
        .await
        .map_err(|source| GuardError::Http { what, source })
}
