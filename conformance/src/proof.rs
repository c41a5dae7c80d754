//! What the RP signs itself: private_key_jwt client assertions (RFC 7523 §2.2/§3, OIDC
//! Core 9) and DPoP proofs (RFC 9449 §4.2), with josekit, the JOSE crate Signoff uses.

use crate::jwt::b64;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jws::{self, JwsHeader};
use openidconnect::{CsrfToken, Nonce};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The kid the client's key is registered under (run.sh prints the JWKS with it).
pub const CLIENT_KID: &str = "conformance-1";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_id() -> String {
    CsrfToken::new_random().secret().clone()
}

/// An ES256 key pair read from a PEM file (PKCS#8 or SEC1, P-256).
#[derive(Clone)]
pub struct SigningKey {
    pair: EcKeyPair,
}

impl SigningKey {
    pub fn from_pem_file(path: &Path) -> Result<SigningKey, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let pair = jws::ES256
            .key_pair_from_pem(&pem)
            .map_err(|e| format!("{}: not a P-256 private key: {e}", path.display()))?;
        Ok(SigningKey { pair })
    }

    pub fn generate() -> SigningKey {
        SigningKey {
            pair: jws::ES256
                .generate_key_pair()
                .expect("P-256 key generation"),
        }
    }

    /// The public half as a JWK (kty, crv, x, y only).
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = self.pair.to_jwk_public_key();
        jwk.set_algorithm("ES256");
        jwk
    }

    /// `{"keys":[…]}` with the public key under CLIENT_KID, for registering the client.
    pub fn public_jwks(&self) -> String {
        let mut jwk = self.public_jwk();
        jwk.set_key_id(CLIENT_KID);
        jwk.set_key_use("sig");
        json!({ "keys": [Value::Object(jwk.as_ref().clone())] }).to_string()
    }

    /// Signs `claims` with `header` (alg ES256 is set here).
    pub fn sign(&self, header: &JwsHeader, claims: &Map<String, Value>) -> String {
        let signer = jws::ES256
            .signer_from_jwk(&self.pair.to_jwk_private_key())
            .expect("an EC private JWK signs");
        jws::serialize_compact(
            &serde_json::to_vec(claims).expect("JSON map"),
            header,
            &signer,
        )
        .expect("compact JWS serialization")
    }
}

/// RFC 7523 §3: iss = sub = client_id, aud = the server (the endpoint URL or, OIDC Core 9
/// errata, the issuer), a short exp and a unique jti.
pub fn assertion_claims(client_id: &str, aud: &str) -> Map<String, Value> {
    let now = now();
    let Value::Object(m) = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": random_id(),
    }) else {
        unreachable!("an object literal")
    };
    m
}

pub fn sign_assertion(key: &SigningKey, claims: &Map<String, Value>) -> String {
    let mut header = JwsHeader::new();
    header.set_key_id(CLIENT_KID);
    header.set_token_type("JWT");
    key.sign(&header, claims)
}

/// A DPoP proof under construction (RFC 9449 §4.2): edit its parts, then `sign`.
pub struct DpopProof {
    pub header: JwsHeader,
    pub claims: Map<String, Value>,
}

impl DpopProof {
    /// typ dpop+jwt, the public jwk, and jti/htm/htu/iat; `ath` when an access token is given.
    pub fn new(key: &SigningKey, method: &str, url: &str, access_token: Option<&str>) -> Self {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header
            .set_claim(
                "jwk",
                Some(Value::Object(key.public_jwk().as_ref().clone())),
            )
            .expect("jwk is a header claim");
        let mut claims = Map::new();
        claims.insert("jti".into(), Value::String(random_id()));
        claims.insert("htm".into(), Value::String(method.into()));
        claims.insert("htu".into(), Value::String(url.into()));
        claims.insert("iat".into(), Value::from(now()));
        if let Some(at) = access_token {
            // RFC 9449 §4.2: ath is the base64url SHA-256 of the access token.
            claims.insert("ath".into(), Value::String(ath(at)));
        }
        DpopProof { header, claims }
    }

    pub fn nonce(mut self, nonce: Option<&str>) -> Self {
        if let Some(n) = nonce {
            self.claims.insert("nonce".into(), Value::String(n.into()));
        }
        self
    }

    pub fn sign(&self, key: &SigningKey) -> String {
        key.sign(&self.header, &self.claims)
    }
}

pub fn ath(access_token: &str) -> String {
    b64(&Sha256::digest(access_token.as_bytes()))
}

/// A random value for places where the exact content does not matter.
pub fn random_value() -> String {
    Nonce::new_random().secret().clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Jwt;

    #[test]
    fn assertion_carries_the_rfc_7523_claims_and_the_kid() {
        let key = SigningKey::generate();
        let token = sign_assertion(&key, &assertion_claims("c1", "http://op/token"));
        let jwt = Jwt::decode(&token).unwrap();
        assert_eq!(jwt.alg(), "ES256");
        assert_eq!(jwt.header["kid"], CLIENT_KID);
        assert_eq!(jwt.str_claim("iss"), Some("c1"));
        assert_eq!(jwt.str_claim("sub"), Some("c1"));
        assert_eq!(jwt.str_claim("aud"), Some("http://op/token"));
        assert!(jwt.num_claim("exp").unwrap() > jwt.num_claim("iat").unwrap());
        let jwks: Value = serde_json::from_str(&key.public_jwks()).unwrap();
        assert!(jwks["keys"][0].get("d").is_none(), "public JWKS has no d");
    }

    #[test]
    fn dpop_proof_has_typ_jwk_and_ath() {
        let key = SigningKey::generate();
        let proof = DpopProof::new(&key, "GET", "http://op/userinfo", Some("at")).sign(&key);
        let jwt = Jwt::decode(&proof).unwrap();
        assert_eq!(jwt.header["typ"], "dpop+jwt");
        assert!(jwt.header["jwk"].get("d").is_none());
        assert_eq!(jwt.str_claim("ath"), Some(ath("at").as_str()));
    }
}
