//! A stream's configuration as the receiver sends it and as Signoff
//! answers it (SSF 1.0 §8.1.1). Transmitter-supplied members (`stream_id`
//! aside, `iss`, `aud`, `events_supported`, `events_delivered`) are set by
//! Signoff: in a request they are ignored.

use serde_json::{Map, Value, json};

use super::error::SsfError;
use super::{POLL, PUSH, feed, push, set};
use crate::state::AppState;
use crate::store::ssf_streams::StreamRow;

/// Bounds on what a receiver may store.
const MAX_DESCRIPTION: usize = 1000;
const MAX_EVENT_TYPES: usize = 32;
const MAX_EVENT_TYPE: usize = 256;
const MAX_AUTHORIZATION_HEADER: usize = 4096;

/// The sealing context of a stream's push `authorization_header`.
pub fn seal_context(stream_id: &str) -> Vec<u8> {
    format!("ssf-authorization-header:{stream_id}").into_bytes()
}

/// The request body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, SsfError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SsfError::BadRequest(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(SsfError::BadRequest(format!("malformed JSON: {e}").into())),
    }
}

/// A string member, if present (`null` counts as absent).
pub fn string<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SsfError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SsfError::BadRequest(
            format!("{name} must be a string").into(),
        )),
    }
}

/// Apply the receiver-supplied members of `map` to `row`. With `replace`
/// (PUT, SSF 1.0 §8.1.1.4) absent members are reset; otherwise (POST and
/// PATCH) they are kept.
pub fn apply(
    state: &AppState,
    row: &mut StreamRow,
    map: &Map<String, Value>,
    replace: bool,
) -> Result<(), SsfError> {
    match map.get("delivery") {
        Some(Value::Object(delivery)) => {
            let method = string(delivery, "method")?
                .ok_or_else(|| SsfError::BadRequest("delivery.method is required".into()))?;
            match method {
                PUSH => {
                    let url = string(delivery, "endpoint_url")?.ok_or_else(|| {
                        SsfError::BadRequest("push delivery needs an endpoint_url".into())
                    })?;
                    push::check_endpoint(&state.config.ssf, url)?;
                    row.endpoint_url = Some(url.to_owned());
                    row.authorization_header = match string(delivery, "authorization_header")? {
                        Some(h)
                            if h.len() > MAX_AUTHORIZATION_HEADER || h.contains(['\r', '\n']) =>
                        {
                            return Err(SsfError::BadRequest(
                                "authorization_header is too long or not a header value".into(),
                            ));
                        }
                        Some(h) => Some(state.keys.master_keys().seal(
                            state.rng.as_ref(),
                            h.as_bytes(),
                            &seal_context(&row.id),
                        )),
                        None => None,
                    };
                }
                // RFC 8936 §2: the poll endpoint is the transmitter's.
                POLL => {
                    row.endpoint_url = None;
                    row.authorization_header = None;
                }
                _ => {
                    return Err(SsfError::BadRequest(
                        "delivery.method must be urn:ietf:rfc:8935 or urn:ietf:rfc:8936".into(),
                    ));
                }
            }
            row.delivery_method = method.to_owned();
        }
        None | Some(Value::Null) if !replace => {}
        None | Some(Value::Null) => {
            return Err(SsfError::BadRequest("delivery is required".into()));
        }
        Some(_) => return Err(SsfError::BadRequest("delivery must be an object".into())),
    }
    match map.get("events_requested") {
        Some(Value::Array(items)) => {
            if items.len() > MAX_EVENT_TYPES {
                return Err(SsfError::BadRequest("too many events_requested".into()));
            }
            let mut types = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(t) if !t.is_empty() && t.len() <= MAX_EVENT_TYPE => {
                        types.push(t.to_owned())
                    }
                    _ => {
                        return Err(SsfError::BadRequest(
                            "events_requested must be event type URIs".into(),
                        ));
                    }
                }
            }
            row.events_requested = json!(types).to_string();
        }
        None | Some(Value::Null) if !replace => {}
        None | Some(Value::Null) => row.events_requested = "[]".into(),
        Some(_) => {
            return Err(SsfError::BadRequest(
                "events_requested must be an array".into(),
            ));
        }
    }
    match string(map, "description")? {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            return Err(SsfError::BadRequest("description is too long".into()));
        }
        Some(d) => row.description = Some(d.to_owned()),
        None if replace => row.description = None,
        None => {}
    }
    Ok(())
}

/// SSF 1.0 §8.1.1: the stream configuration Signoff answers with. The push
/// `authorization_header` is a secret: never echoed.
pub fn to_json(state: &AppState, row: &StreamRow) -> Value {
    let endpoint_url = if row.delivery_method == POLL {
        Some(state.config.endpoint(&format!("/ssf/poll/{}", row.id)))
    } else {
        row.endpoint_url.clone()
    };
    let requested: Value = serde_json::from_str(&row.events_requested).unwrap_or(json!([]));
    let mut config = json!({
        "stream_id": row.id,
        "iss": state.config.issuer_str(),
        "aud": row.client_id,
        "delivery": { "method": row.delivery_method, "endpoint_url": endpoint_url },
        "events_supported": set::SUPPORTED,
        "events_requested": requested,
        "events_delivered": feed::delivered(row),
        "min_verification_interval": 0,
    });
    if let Some(d) = &row.description {
        config["description"] = json!(d);
    }
    config
}
