//! Push-based delivery (RFC 8935): every instance runs the worker; a push
//! stream is delivered by whichever instance leases it (the back-channel
//! outbox's pattern, `store::ssf_streams::claim`), one SET at a time and in
//! order. 202 moves the stream on; transport errors, timeouts, 5xx and 429
//! are retried with exponential back-off; any other answer is the receiver
//! refusing that SET (RFC 8935 §2.3), logged and not sent again.
//!
//! No SSRF: push URLs are https (http only to a loopback address), and
//! addresses that are not public (private, loopback, link-local, …) are
//! refused at configuration and at delivery (after DNS resolution, and the
//! connection is pinned to the checked address) unless
//! `ssf.push_allow_private` is set.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::header;
use tokio::task::JoinSet;
use url::Url;

use super::config::seal_context;
use super::error::SsfError;
use super::{PUSH, feed};
use crate::config::{SsfConfig, is_loopback_host};
use crate::state::AppState;
use crate::store::ssf_streams::{self, StreamRow};

/// RFC 8935 §2: the media type of a pushed SET.
const CONTENT_TYPE: &str = "application/secevent+jwt";
/// Seconds a leased stream stays with its instance (a dead instance's lease
/// passes to another after this).
const LEASE: i64 = 60;
/// A round stops taking new SETs after this, well within the lease.
const ROUND: Duration = Duration::from_secs(20);
/// Streams leased per pass.
const STREAMS: u64 = 32;
/// SETs read per batch of a round.
const BATCH: usize = 50;
const MAX_URL: usize = 2048;
/// Passes run at least this often, even when nothing wakes the worker
/// (a retry falling due, a change made by another instance).
const TICK: Duration = Duration::from_secs(1);

/// An address a push may reach without `ssf.push_allow_private`.
pub fn is_public(ip: IpAddr) -> bool {
    !crate::http::outbound::is_special_purpose(ip)
}

/// A receiver's push `endpoint_url`, checked when it is configured.
pub fn check_endpoint(config: &SsfConfig, raw: &str) -> Result<Url, SsfError> {
    let bad = |m: &'static str| SsfError::BadRequest(m.into());
    if raw.len() > MAX_URL {
        return Err(bad("endpoint_url is too long"));
    }
    let url = Url::parse(raw).map_err(|_| bad("endpoint_url is not a URL"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad("endpoint_url must not carry a fragment or credentials"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        _ => return Err(bad("endpoint_url must be https (http only on loopback)")),
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(bad("endpoint_url has no host")),
    };
    let private = literal.is_some_and(|ip| !is_public(ip)) || is_loopback_host(&url);
    if private && !config.push_allow_private {
        return Err(bad("endpoint_url is not a public address"));
    }
    Ok(url)
}

/// Resolve the push host and pick an address delivery may use.
async fn resolve(config: &SsfConfig, url: &Url) -> Result<(String, SocketAddr), String> {
    let host = url.host_str().ok_or("no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let addr = addrs
        .into_iter()
        .find(|a| config.push_allow_private || is_public(a.ip()))
        .ok_or_else(|| format!("{host} resolves to no public address"))?;
    Ok((bare, addr))
}

enum Outcome {
    Delivered,
    /// RFC 8935 §2.3: the receiver refused this SET; not sent again.
    Refused(String),
    /// Worth trying again later.
    Retry(String),
}

async fn send(http: &reqwest::Client, url: &Url, auth: Option<&str>, set: &str) -> Outcome {
    let mut request = http
        .post(url.clone())
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header(header::ACCEPT, "application/json")
        .body(set.to_owned());
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    match request.send().await {
        Err(e) => Outcome::Retry(format!("transport: {e}")),
        // RFC 8935 §2.2: 202 Accepted.
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        // RFC 8935 §2.3: a 400 (with an `err` body) is the receiver refusing
        // this SET; it is not sent again. Anything else (401/403 from an
        // expired authorization_header, 404 from a moved endpoint, a
        // redirect, 5xx, 429) says nothing about the SET: keep it and retry
        // with back-off, so no revocation is lost to a misconfiguration.
        Ok(r) if r.status() != reqwest::StatusCode::BAD_REQUEST => {
            Outcome::Retry(format!("HTTP {}", r.status()))
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            Outcome::Refused(format!(
                "HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            ))
        }
    }
}

/// Wait before attempt `attempts + 1`: `push_retry_base`·2^(attempts−1),
/// at most `push_retry_max`, in seconds.
pub fn backoff(config: &SsfConfig, attempts: i32) -> i64 {
    let base = config.push_retry_base.as_secs().max(1);
    let factor = 1u64 << (attempts.max(1) - 1).min(30);
    base.saturating_mul(factor)
        .min(config.push_retry_max.as_secs().max(1)) as i64
}

/// One leased round of one stream. Returns the error that ended it early.
async fn round(state: &AppState, leased: &StreamRow) -> Option<String> {
    let config = &state.config.ssf;
    let Ok(url) = check_endpoint(config, leased.endpoint_url.as_deref().unwrap_or("")) else {
        return Some("the endpoint_url is no longer acceptable".into());
    };
    let auth = match &leased.authorization_header {
        None => None,
        Some(sealed) => match state
            .keys
            .master_keys()
            .open(sealed, &seal_context(&leased.id))
        {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => return Some("the authorization_header cannot be opened".into()),
        },
    };
    let started = tokio::time::Instant::now();
    let mut http: Option<reqwest::Client> = None;
    while started.elapsed() < ROUND {
        let row = match ssf_streams::find(&state.db, &leased.id).await {
            Ok(Some(row)) if row.status == "enabled" && row.delivery_method == PUSH => row,
            Ok(_) => return None,
            Err(e) => return Some(format!("store: {e}")),
        };
        // A disabled or removed receiver learns nothing more.
        match crate::store::clients::find(&state.db, &row.client_id).await {
            Ok(Some(client)) if !client.disabled => {}
            Ok(_) => return None,
            Err(e) => return Some(format!("store: {e}")),
        }
        let (sets, more) = match feed::next(state, &row, BATCH).await {
            Ok(found) => found,
            Err(e) => return Some(e.to_string()),
        };
        if sets.is_empty() {
            return None;
        }
        if http.is_none() {
            let (host, addr) = match resolve(config, &url).await {
                Ok(found) => found,
                Err(e) => return Some(e),
            };
            // Pinned to the checked address: no DNS rebinding after the check.
            http = reqwest::Client::builder()
                .timeout(config.push_timeout)
                .connect_timeout(config.push_timeout)
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve the name again, past the check.
                .no_proxy()
                .resolve(&host, addr)
                .build()
                .ok();
        }
        let Some(client) = &http else {
            return Some("no HTTP client".into());
        };
        for s in sets {
            // Checked before each send, not only per batch: a round never
            // outlasts its lease by more than one push_timeout.
            if started.elapsed() >= ROUND {
                return None;
            }
            match send(client, &url, auth.as_deref(), &s.set).await {
                Outcome::Delivered => {}
                Outcome::Refused(why) => {
                    tracing::warn!(stream_id = %row.id, jti = %s.jti, error = %why, "push receiver refused a SET");
                }
                Outcome::Retry(why) => return Some(why),
            }
            if let Err(e) = feed::acknowledge(state, &row.id, std::slice::from_ref(&s.jti)).await {
                return Some(e.to_string());
            }
        }
        if !more {
            return None;
        }
    }
    None
}

async fn deliver(state: AppState, row: StreamRow) {
    let error = round(&state, &row).await;
    let (next, attempts) = match &error {
        None => (0, 0),
        Some(e) => {
            let attempts = row.attempts.saturating_add(1);
            tracing::warn!(stream_id = %row.id, attempts, error = %e, "push delivery failed");
            (state.now() + backoff(&state.config.ssf, attempts), attempts)
        }
    };
    if let Err(e) = ssf_streams::release(&state.db, &row.id, next, attempts, error.as_deref()).await
    {
        tracing::error!(stream_id = %row.id, error = %e, "push stream not released");
    }
}

/// One pass: lease every due push stream and deliver them concurrently.
pub async fn run_once(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let now = state.now();
    let mut tasks = JoinSet::new();
    for row in ssf_streams::due_push(&state.db, PUSH, now, STREAMS).await? {
        if ssf_streams::claim(&state.db, &row.id, row.next_attempt_at, now, LEASE).await? {
            tasks.spawn(deliver(state.clone(), row));
        }
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut applied = state.revocations.subscribe();
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::warn!(error = %e, "push pass failed");
            }
            tokio::select! {
                _ = applied.changed() => {}
                _ = state.ssf.push_now.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "10.0.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn push_urls_are_https_or_loopback_and_public_unless_allowed() {
        let strict = SsfConfig::default();
        let lax = SsfConfig {
            push_allow_private: true,
            ..SsfConfig::default()
        };
        assert!(check_endpoint(&strict, "https://rs.example/events").is_ok());
        assert!(check_endpoint(&strict, "http://rs.example/events").is_err());
        assert!(check_endpoint(&strict, "https://169.254.169.254/latest").is_err());
        assert!(check_endpoint(&strict, "http://127.0.0.1:9/events").is_err());
        assert!(check_endpoint(&lax, "http://127.0.0.1:9/events").is_ok());
        assert!(check_endpoint(&lax, "http://10.0.0.1/events").is_err());
        assert!(check_endpoint(&strict, "https://user:pw@rs.example/").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let c = SsfConfig::default();
        assert_eq!(backoff(&c, 1), 1);
        assert_eq!(backoff(&c, 3), 4);
        assert_eq!(backoff(&c, 40), 300);
    }
}
