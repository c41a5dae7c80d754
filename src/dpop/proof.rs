//! Checking one DPoP proof JWT (RFC 9449 §4.3) as a pure function of the
//! proof, the request it came with and the time: no database, no clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

/// RFC 9449 §4.2: the `typ` header of a proof.
pub const TYP: &str = "dpop+jwt";
/// The signature algorithms a proof may use: asymmetric only (RFC 9449
/// §4.3 item 5: never `none` nor a MAC).
pub const ALGORITHMS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];
/// Longest `jti` accepted (RFC 9449 §4.2 asks for 96 bits of randomness;
/// this leaves room for any encoding).
const MAX_JTI: usize = 256;
/// RSA keys between 2048 and 8192 bits: weaker keys prove nothing, larger
/// ones only cost verification time.
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=1024;
/// JWK members that belong to a private or symmetric key (RFC 7518 §6.2.2,
/// §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the request says the proof must match.
pub struct Expected<'a> {
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The URL of the endpoint the request reached (`htu`).
    pub url: &'a str,
    /// The access token presented with it, if any (`ath`).
    pub access_token: Option<&'a str>,
    pub now: i64,
    /// How far `iat` may be from `now`, either way.
    pub window: i64,
}

/// A proof whose signature and claims checked out; its `jti` still has to
/// be new and its nonce current (`super`).
#[derive(Debug)]
pub struct Checked {
    /// RFC 7638 SHA-256 thumbprint of the proof's key (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Check a proof; the error is a description fit for `error_description`.
pub fn check(proof: &str, expected: &Expected<'_>) -> Result<Checked, &'static str> {
    let header = josekit::jwt::decode_header(proof).map_err(|_| "the DPoP proof is not a JWT")?;
    // RFC 9449 §4.3 item 4: explicitly typed.
    if header.claim("typ").and_then(Value::as_str) != Some(TYP) {
        return Err("the DPoP proof must have typ dpop+jwt");
    }
    // Item 5: an asymmetric algorithm we support.
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .filter(|a| ALGORITHMS.contains(a))
        .ok_or("the DPoP proof's alg is not supported")?;
    // Item 7: the public key, and only a public key.
    let jwk = header
        .claim("jwk")
        .and_then(Value::as_object)
        .ok_or("the DPoP proof must carry its public key in a jwk header")?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err("the DPoP proof's jwk must not contain a private key");
    }
    let public = PublicKey::from_jwk(jwk).ok_or("the DPoP proof's jwk is not a supported key")?;
    // Item 6: the signature verifies with that key.
    let verifier = public
        .verifier(alg)
        .ok_or("the DPoP proof's jwk does not fit its alg")?;
    let (payload, _) = josekit::jws::deserialize_compact(proof, verifier.as_ref())
        .map_err(|_| "the DPoP proof's signature is invalid")?;
    // Item 3: the required claims.
    let claims: Claims = serde_json::from_slice(&payload)
        .map_err(|_| "the DPoP proof lacks jti, htm, htu or iat")?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err("the DPoP proof's jti is empty or too long");
    }
    // Item 8: the method of this request.
    if claims.htm != expected.method {
        return Err("the DPoP proof's htm does not match the request method");
    }
    // Item 9: the URL of this request, without query and fragment.
    if !same_target(&claims.htu, expected.url) {
        return Err("the DPoP proof's htu does not match the request URL");
    }
    // Item 11: created within the acceptable window.
    if expected.now.abs_diff(claims.iat) > expected.window.unsigned_abs() {
        return Err("the DPoP proof's iat is outside the acceptable window");
    }
    // Item 12: with an access token, `ath` is its hash.
    if let Some(token) = expected.access_token {
        let hash = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(token.as_bytes()));
        let matches = claims
            .ath
            .as_deref()
            .is_some_and(|ath| crate::secrets::constant_time_eq(ath, &hash));
        if !matches {
            return Err("the DPoP proof's ath does not match the access token");
        }
    }
    Ok(Checked {
        jkt: public.thumbprint,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

/// RFC 9449 §4.3 item 9: `htu` names the request's URL, compared without
/// query and fragment after RFC 3986 §6.2.2 and §6.2.3 normalisation
/// (scheme and host case, default port, dot segments, empty path), which
/// `url::Url` applies when it parses.
pub fn same_target(htu: &str, url: &str) -> bool {
    let target = |s: &str| {
        let mut u = Url::parse(s).ok().filter(|u| u.has_host())?;
        u.set_query(None);
        u.set_fragment(None);
        Some(u)
    };
    match (target(htu), target(url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The proof's public key: only the members that define it, so that `kid`,
/// `use`, `key_ops` or `alg` in the header's JWK change nothing.
struct PublicKey {
    jwk: Jwk,
    thumbprint: String,
}

impl PublicKey {
    fn from_jwk(jwk: &Map<String, Value>) -> Option<Self> {
        let kty = jwk.get("kty")?.as_str()?;
        // RFC 7638 §3.2: the required members, in lexicographic order.
        let members: &[&str] = match kty {
            "EC" => &["crv", "kty", "x", "y"],
            "OKP" => &["crv", "kty", "x"],
            "RSA" => &["e", "kty", "n"],
            _ => return None,
        };
        let mut key = Map::new();
        let mut canonical = String::from("{");
        for (i, m) in members.iter().enumerate() {
            let value = jwk.get(*m)?.as_str()?;
            if i > 0 {
                canonical.push(',');
            }
            canonical.push_str(&serde_json::to_string(m).ok()?);
            canonical.push(':');
            canonical.push_str(&serde_json::to_string(value).ok()?);
            key.insert((*m).to_owned(), Value::String(value.to_owned()));
        }
        canonical.push('}');
        if kty == "RSA" {
            let n = URL_SAFE_NO_PAD.decode(jwk.get("n")?.as_str()?).ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if !RSA_MODULUS_BYTES.contains(&significant) {
                return None;
            }
        }
        Some(PublicKey {
            jwk: Jwk::from_map(key).ok()?,
            // RFC 7638 §3.1: SHA-256 over the canonical JSON, base64url.
            thumbprint: URL_SAFE_NO_PAD.encode(openssl::sha::sha256(canonical.as_bytes())),
        })
    }

    fn verifier(&self, alg: &str) -> Option<Box<dyn JwsVerifier>> {
        use josekit::jws::{ES256, EdDSA, PS256, RS256};
        Some(match alg {
            "ES256" => Box::new(ES256.verifier_from_jwk(&self.jwk).ok()?),
            // RFC 8037 §3.1: Ed25519 (josekit also takes Ed448).
            "EdDSA" => Box::new(EdDSA.verifier_from_jwk(&self.jwk).ok()?),
            "RS256" => Box::new(RS256.verifier_from_jwk(&self.jwk).ok()?),
            "PS256" => Box::new(PS256.verifier_from_jwk(&self.jwk).ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        let key = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            key.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn htu_is_compared_normalised_without_query_and_fragment() {
        let url = "https://op.example.com/token";
        for same in [
            "https://op.example.com/token",
            "HTTPS://OP.example.COM:443/token",
            "https://op.example.com/a/../token",
            "https://op.example.com/token?x=1#f",
        ] {
            assert!(same_target(same, url), "{same}");
        }
        for other in [
            "https://op.example.com/userinfo",
            "http://op.example.com/token",
            "https://op.example.com:8443/token",
            "https://evil.example.com/token",
            "https://op.example.com/token/",
            "/token",
            "not a url",
        ] {
            assert!(!same_target(other, url), "{other}");
        }
    }
}
