//! Compact JWS (RFC 7515 §7.1) parsing and signature verification, shared by
//! access tokens (RFC 9068) and Security Event Tokens (RFC 8417).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Reason;
use crate::jwks::{KeySet, Lookup};

/// Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1). `none` and the
/// HMAC family are not representable: RFC 8725 §3.1 (a public key used as an
/// HMAC secret) and RFC 9068 §4 (`none` MUST be rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 10] = [
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::EdDsa,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// A verifier for this algorithm from a public JWK; josekit refuses a
    /// key of the wrong type or curve.
    pub(crate) fn verifier(
        self,
        jwk: &josekit::jwk::Jwk,
    ) -> Result<Box<dyn josekit::jws::JwsVerifier>, josekit::JoseError> {
        use josekit::jws;
        Ok(match self {
            Algorithm::Rs256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
            Algorithm::Rs384 => Box::new(jws::RS384.verifier_from_jwk(jwk)?),
            Algorithm::Rs512 => Box::new(jws::RS512.verifier_from_jwk(jwk)?),
            Algorithm::Ps256 => Box::new(jws::PS256.verifier_from_jwk(jwk)?),
            Algorithm::Ps384 => Box::new(jws::PS384.verifier_from_jwk(jwk)?),
            Algorithm::Ps512 => Box::new(jws::PS512.verifier_from_jwk(jwk)?),
            Algorithm::Es256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
            Algorithm::Es384 => Box::new(jws::ES384.verifier_from_jwk(jwk)?),
            Algorithm::Es512 => Box::new(jws::ES512.verifier_from_jwk(jwk)?),
            Algorithm::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub crit: Option<Value>,
}

/// A JWS whose signature checked out with a published key.
pub(crate) struct Verified {
    pub claims: Map<String, Value>,
}

/// Whether a `typ` names the media type `expected` (RFC 7515 §4.1.9: the
/// `application/` prefix may be left out; media types are case-insensitive).
pub(crate) fn typ_is(typ: Option<&str>, expected: &str) -> bool {
    typ.is_some_and(|t| {
        let t = t.strip_prefix("application/").unwrap_or(t);
        t.eq_ignore_ascii_case(expected)
    })
}

/// Parse the header of a compact JWS without trusting anything in it.
pub(crate) fn header(token: &str) -> Result<Header, Reason> {
    let (encoded, _) = token.split_once('.').ok_or(Reason::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Reason::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Reason::Malformed)
}

/// Verify a compact JWS with `keys`, accepting only `allowed` algorithms.
/// `Lookup::Unknown` tells the caller to refresh the key set and retry.
pub(crate) fn verify(
    token: &str,
    header: Header,
    keys: &KeySet,
    allowed: &[Algorithm],
) -> Result<Verified, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Rejected(Reason::Malformed));
    };
    // RFC 7515 §4.1.11: no header parameter we would have to understand.
    if header.crit.is_some() {
        return Err(VerifyError::Rejected(Reason::Malformed));
    }
    let alg = Algorithm::parse(&header.alg)
        .filter(|a| allowed.contains(a))
        .ok_or(VerifyError::Rejected(Reason::Algorithm))?;
    let verifier = match keys.lookup(header.kid.as_deref(), alg) {
        Lookup::Found(v) => v,
        Lookup::Unknown => return Err(VerifyError::UnknownKey),
        Lookup::WrongAlgorithm => return Err(VerifyError::Rejected(Reason::Algorithm)),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| VerifyError::Rejected(Reason::Malformed))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    verifier
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| VerifyError::Rejected(Reason::Signature))?;
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| VerifyError::Rejected(Reason::Malformed))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| VerifyError::Rejected(Reason::Malformed))?;
    Ok(Verified { claims })
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum VerifyError {
    Rejected(Reason),
    /// No published key has this `kid`.
    UnknownKey,
}
