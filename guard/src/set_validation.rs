//! The network-free part of a received SET's validation (RFC 8417): type,
//! signature with a given key set, issuer, audience, `jti` and `iat`. The
//! receiver fetches the key set (and refreshes it for an unknown `kid`).

use serde_json::{Map, Value};

use crate::error::Reason;
use crate::jwks::KeySet;
use crate::jwt::{self, Algorithm, VerifyError};

/// What a SET of one stream must carry.
pub(crate) struct Expected<'a> {
    /// The transmitter's issuer.
    pub issuer: &'a str,
    /// The stream's audiences; empty: any.
    pub audiences: &'a [String],
    /// The poll response's member name for this SET.
    pub jti: &'a str,
    pub algorithms: &'a [Algorithm],
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SetError {
    /// No key of the set has this `kid`: the caller may refresh and retry.
    UnknownKey,
    /// An RFC 8935 §2.4 error code and a description.
    Refused(&'static str, String),
}

impl SetError {
    /// The RFC 8935 §2.4 error code and description reported in `setErrs`.
    pub(crate) fn refusal(self) -> (&'static str, String) {
        match self {
            SetError::UnknownKey => ("invalid_key", "unknown signing key".into()),
            SetError::Refused(code, description) => (code, description),
        }
    }
}

fn refused(code: &'static str, reason: Reason) -> SetError {
    SetError::Refused(code, reason.description().to_owned())
}

/// Validate one SET against `keys`; on success, its claims.
pub(crate) fn validate(
    set: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, SetError> {
    let header = jwt::header(set).map_err(|r| refused("invalid_request", r))?;
    // RFC 8417 §2.3: explicit typing `secevent+jwt` keeps other JWTs
    // (ID tokens, access tokens) from passing for SETs.
    if !jwt::typ_is(header.typ.as_deref(), "secevent+jwt") {
        return Err(SetError::Refused(
            "invalid_request",
            "typ is not secevent+jwt".into(),
        ));
    }
    let claims = match jwt::verify(set, header, keys, expected.algorithms) {
        Ok(v) => v.claims,
        Err(VerifyError::UnknownKey) => return Err(SetError::UnknownKey),
        Err(VerifyError::Rejected(r)) => return Err(refused("invalid_key", r)),
    };
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(SetError::Refused(
            "invalid_issuer",
            "iss is not the transmitter".into(),
        ));
    }
    if !expected.audiences.is_empty() {
        let aud = crate::access_token::audiences(claims.get("aud")).unwrap_or_default();
        if !aud.iter().any(|a| expected.audiences.contains(a)) {
            return Err(SetError::Refused(
                "invalid_audience",
                "aud is not this stream's".into(),
            ));
        }
    }
    // RFC 8936 §2.3: the member name is the SET's jti.
    if claims.get("jti").and_then(Value::as_str) != Some(expected.jti) {
        return Err(SetError::Refused(
            "invalid_request",
            "jti does not match".into(),
        ));
    }
    // RFC 8417 §2.2: iat is required.
    if claims.get("iat").and_then(Value::as_i64).is_none() {
        return Err(SetError::Refused("invalid_request", "no iat".into()));
    }
    Ok(claims)
}
