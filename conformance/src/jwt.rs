//! Just enough JOSE to inspect tokens the way a careful RP would: split a compact JWS,
//! read its header and claims, and check its signature against the provider's JWKS
//! (the verification itself is openidconnect's `JsonWebKey::verify_signature`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64_json(part: &str, what: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("{what} is not base64url: {e}"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{what} is not a JSON object")),
        Err(e) => Err(format!("{what} is not JSON: {e}")),
    }
}

/// base64url without padding, for building tokens by hand.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Jwt {
    /// Splits a compact JWS (RFC 7515 §7.1) into its parts; no verification.
    pub fn decode(token: &str) -> Result<Jwt, String> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(format!(
                "a compact JWS has 3 parts, this token has {}",
                parts.len()
            ));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|e| format!("signature is not base64url: {e}"))?;
        Ok(Jwt {
            header: b64_json(parts[0], "JOSE header")?,
            claims: b64_json(parts[1], "payload")?,
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature,
        })
    }

    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn num_claim(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(Value::as_i64)
    }

    pub fn signature_is_empty(&self) -> bool {
        self.signature.is_empty()
    }

    /// Checks the signature with a key from `jwks` (by `kid` when the header names one).
    /// Rejects `alg: none` and symmetric algorithms: an OP's own tokens are checked
    /// against its published keys (OIDC Core 10.1).
    pub fn verify(&self, jwks: &CoreJsonWebKeySet) -> Result<(), String> {
        let alg: CoreJwsSigningAlgorithm =
            serde_json::from_value(Value::String(self.alg().to_string()))
                .map_err(|_| format!("unknown alg {:?}", self.alg()))?;
        if matches!(alg, CoreJwsSigningAlgorithm::None) {
            return Err("alg is none".into());
        }
        let kid = self.header.get("kid").and_then(Value::as_str);
        let candidates: Vec<_> = jwks
            .keys()
            .iter()
            .filter(|k| match (kid, k.key_id()) {
                (Some(want), Some(have)) => want == have.as_str(),
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(match kid {
                Some(k) => format!("no key with kid {k:?} in the JWKS"),
                None => "the JWKS has no keys".into(),
            });
        }
        let mut last = String::new();
        for key in candidates {
            match key.verify_signature(&alg, self.signing_input.as_bytes(), &self.signature) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("signature does not verify: {last}"))
    }

    /// The same token with one payload claim changed and the original signature kept:
    /// what an attacker who altered a token would present.
    pub fn tampered(&self, claim: &str, value: Value) -> String {
        let mut claims = self.claims.clone();
        claims.insert(claim.to_string(), value);
        let header = self.signing_input.split('.').next().unwrap_or_default();
        format!(
            "{header}.{}.{}",
            b64(&serde_json::to_vec(&claims).expect("JSON map")),
            b64(&self.signature)
        )
    }
}

/// An unsigned JWT (alg none, RFC 7519 §6.1) carrying `claims`.
pub fn unsigned(claims: &Value) -> String {
    let header = b64(br#"{"alg":"none"}"#);
    let payload = b64(&serde_json::to_vec(claims).expect("JSON value"));
    format!("{header}.{payload}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_unsigned_token() {
        let t = unsigned(&serde_json::json!({"iss": "x", "iat": 5}));
        let jwt = Jwt::decode(&t).unwrap();
        assert_eq!(jwt.alg(), "none");
        assert_eq!(jwt.str_claim("iss"), Some("x"));
        assert_eq!(jwt.num_claim("iat"), Some(5));
        assert!(jwt.signature_is_empty());
        let empty: CoreJsonWebKeySet = serde_json::from_str(r#"{"keys":[]}"#).unwrap();
        assert!(jwt.verify(&empty).unwrap_err().contains("none"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Jwt::decode("abc").is_err());
        assert!(Jwt::decode("a.b.c").is_err());
    }

    #[test]
    fn tampering_changes_only_the_claim() {
        let t = unsigned(&serde_json::json!({"sub": "a"}));
        let jwt = Jwt::decode(&t).unwrap();
        let changed = Jwt::decode(&jwt.tampered("sub", "b".into())).unwrap();
        assert_eq!(changed.str_claim("sub"), Some("b"));
        assert_eq!(changed.alg(), "none");
    }
}
