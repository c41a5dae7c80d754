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

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use josekit::jwk::{Jwk, KeyPair};
    use josekit::jws::{ES256, HS256, JwsSigner, RS256};
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://op.example";
    const JTI: &str = "set-1";

    /// Keys generated once per test run: the transmitter's RSA and EC key
    /// pairs (published as kids `rsa`, `ec`), another RSA private key, and
    /// the transmitter's RSA public key as PEM.
    struct Keys {
        rsa: Jwk,
        rsa_public: Jwk,
        ec: Jwk,
        ec_public: Jwk,
        other_rsa: Jwk,
        rsa_public_pem: Vec<u8>,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let rsa = RS256.generate_key_pair(2048).unwrap();
            let ec = ES256.generate_key_pair().unwrap();
            let other = RS256.generate_key_pair(2048).unwrap();
            Keys {
                rsa: rsa.to_jwk_private_key(),
                rsa_public: rsa.to_jwk_public_key(),
                ec: ec.to_jwk_private_key(),
                ec_public: ec.to_jwk_public_key(),
                other_rsa: other.to_jwk_private_key(),
                rsa_public_pem: rsa.to_pem_public_key(),
            }
        })
    }

    /// The transmitter's published key set: the public halves of `rsa` and
    /// `ec`, parsed the way the receiver parses a fetched JWKS.
    fn key_set() -> KeySet {
        let public = |jwk: &Jwk, kid: &str| {
            let mut jwk = jwk.clone();
            jwk.set_key_id(kid);
            Value::Object(jwk.as_ref().clone())
        };
        let body =
            json!({ "keys": [public(&keys().rsa_public, "rsa"), public(&keys().ec_public, "ec")] });
        let set = KeySet::parse(body.to_string().as_bytes(), &Algorithm::ALL).unwrap();
        assert_eq!(set.len(), 2, "both transmitter keys are usable");
        set
    }

    fn audiences() -> Vec<String> {
        vec!["https://api.example".to_owned()]
    }

    fn check(set: &str, algorithms: &[Algorithm]) -> Result<Map<String, Value>, SetError> {
        let audiences = audiences();
        let expected = Expected {
            issuer: ISS,
            audiences: &audiences,
            jti: JTI,
            algorithms,
        };
        validate(set, &key_set(), &expected)
    }

    fn claims() -> Value {
        json!({
            "iss": ISS,
            "aud": "https://api.example",
            "jti": JTI,
            "iat": 1_700_000_000,
            "events": { crate::events::VERIFICATION: { "state": "s" } },
        })
    }

    fn header(alg: &str, kid: &str) -> Value {
        json!({ "alg": alg, "kid": kid, "typ": "secevent+jwt" })
    }

    /// A compact JWS of `header` and `claims`, signed by `signer` (`None`:
    /// an empty signature).
    fn compact(header: &Value, claims: &Value, signer: Option<&dyn JwsSigner>) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = signer.map_or_else(Vec::new, |s| s.sign(input.as_bytes()).unwrap());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn rs256(header: &Value, claims: &Value) -> String {
        let signer = RS256.signer_from_jwk(&keys().rsa).unwrap();
        compact(header, claims, Some(&signer))
    }

    fn es256(header: &Value, claims: &Value) -> String {
        let signer = ES256.signer_from_jwk(&keys().ec).unwrap();
        compact(header, claims, Some(&signer))
    }

    fn assert_refused(result: Result<Map<String, Value>, SetError>, code: &str, description: &str) {
        match result {
            Ok(claims) => panic!("accepted, expected {code}: {claims:?}"),
            Err(e) => {
                let (c, d) = e.refusal();
                assert_eq!((c, d.as_str()), (code, description));
            }
        }
    }

    #[test]
    fn valid_rs256_and_es256_sets_pass_with_their_claims() {
        for set in [
            rs256(&header("RS256", "rsa"), &claims()),
            es256(&header("ES256", "ec"), &claims()),
            // RFC 7515 §4.1.9: the `application/` prefix may be left out or not.
            rs256(
                &json!({ "alg": "RS256", "kid": "rsa", "typ": "application/secevent+jwt" }),
                &claims(),
            ),
        ] {
            let claims = check(&set, &[Algorithm::Rs256, Algorithm::Es256]).unwrap();
            assert_eq!(claims.get("jti").and_then(Value::as_str), Some(JTI));
        }
    }

    #[test]
    fn valid_set_with_an_audience_list_containing_the_streams_passes() {
        let mut c = claims();
        c["aud"] = json!(["https://other.example", "https://api.example"]);
        assert!(check(&rs256(&header("RS256", "rsa"), &c), &Algorithm::ALL).is_ok());
    }

    #[test]
    fn typ_jwt_at_jwt_or_missing_is_refused_as_invalid_request() {
        for typ in [Some("JWT"), Some("at+jwt"), None] {
            let mut h = header("RS256", "rsa");
            match typ {
                Some(t) => h["typ"] = json!(t),
                None => {
                    h.as_object_mut().unwrap().remove("typ");
                }
            }
            assert_refused(
                check(&rs256(&h, &claims()), &Algorithm::ALL),
                "invalid_request",
                "typ is not secevent+jwt",
            );
        }
    }

    #[test]
    fn alg_none_is_refused_as_invalid_key() {
        let set = compact(&header("none", "rsa"), &claims(), None);
        assert_refused(
            check(&set, &Algorithm::ALL),
            "invalid_key",
            Reason::Algorithm.description(),
        );
    }

    #[test]
    fn hs256_keyed_with_the_public_key_pem_is_refused_as_invalid_key() {
        // RFC 8725 §3.1: the public key used as an HMAC secret.
        let signer = HS256.signer_from_bytes(&keys().rsa_public_pem).unwrap();
        let set = compact(&header("HS256", "rsa"), &claims(), Some(&signer));
        assert_refused(
            check(&set, &Algorithm::ALL),
            "invalid_key",
            Reason::Algorithm.description(),
        );
    }

    #[test]
    fn algorithm_outside_the_allow_list_is_refused_as_invalid_key() {
        let set = es256(&header("ES256", "ec"), &claims());
        assert!(check(&set, &[Algorithm::Es256]).is_ok(), "allowed: passes");
        assert_refused(
            check(&set, &[Algorithm::Rs256]),
            "invalid_key",
            Reason::Algorithm.description(),
        );
    }

    #[test]
    fn algorithm_the_named_key_cannot_do_is_refused_as_invalid_key() {
        // An RS256 SET naming the EC key.
        let set = rs256(&header("RS256", "ec"), &claims());
        assert_refused(
            check(&set, &Algorithm::ALL),
            "invalid_key",
            Reason::Algorithm.description(),
        );
    }

    #[test]
    fn unknown_kid_asks_for_a_refresh_then_is_refused_as_invalid_key() {
        let result = check(
            &rs256(&header("RS256", "rotated"), &claims()),
            &Algorithm::ALL,
        );
        assert_eq!(result.as_ref().err(), Some(&SetError::UnknownKey));
        assert_refused(result, "invalid_key", "unknown signing key");
    }

    #[test]
    fn signature_of_another_key_under_the_same_kid_is_refused_as_invalid_key() {
        let signer = RS256.signer_from_jwk(&keys().other_rsa).unwrap();
        let set = compact(&header("RS256", "rsa"), &claims(), Some(&signer));
        assert_refused(
            check(&set, &Algorithm::ALL),
            "invalid_key",
            Reason::Signature.description(),
        );
    }

    #[test]
    fn tampered_claims_are_refused_as_invalid_key() {
        let set = rs256(&header("RS256", "rsa"), &claims());
        let (h, rest) = set.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let mut c = claims();
        c["events"] = json!({ crate::events::ACCOUNT_DISABLED: {} });
        let forged = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(c.to_string()));
        assert_refused(
            check(&forged, &Algorithm::ALL),
            "invalid_key",
            Reason::Signature.description(),
        );
    }

    #[test]
    fn wrong_or_missing_iss_is_refused_as_invalid_issuer() {
        for iss in [json!("https://elsewhere.example"), json!(null)] {
            let mut c = claims();
            c["iss"] = iss;
            assert_refused(
                check(&rs256(&header("RS256", "rsa"), &c), &Algorithm::ALL),
                "invalid_issuer",
                "iss is not the transmitter",
            );
        }
    }

    #[test]
    fn aud_not_the_streams_or_missing_is_refused_as_invalid_audience() {
        for aud in [
            Some(json!("https://other.example")),
            Some(json!(["https://other.example"])),
            None,
        ] {
            let mut c = claims();
            match aud {
                Some(aud) => c["aud"] = aud,
                None => {
                    c.as_object_mut().unwrap().remove("aud");
                }
            }
            assert_refused(
                check(&rs256(&header("RS256", "rsa"), &c), &Algorithm::ALL),
                "invalid_audience",
                "aud is not this stream's",
            );
        }
    }

    #[test]
    fn stream_without_audiences_accepts_any_aud() {
        let mut c = claims();
        c["aud"] = json!("https://other.example");
        let set = rs256(&header("RS256", "rsa"), &c);
        let expected = Expected {
            issuer: ISS,
            audiences: &[],
            jti: JTI,
            algorithms: &Algorithm::ALL,
        };
        assert!(validate(&set, &key_set(), &expected).is_ok());
    }

    #[test]
    fn jti_other_than_the_poll_member_name_is_refused_as_invalid_request() {
        for jti in [json!("set-2"), json!(null)] {
            let mut c = claims();
            c["jti"] = jti;
            assert_refused(
                check(&rs256(&header("RS256", "rsa"), &c), &Algorithm::ALL),
                "invalid_request",
                "jti does not match",
            );
        }
    }

    #[test]
    fn missing_or_non_numeric_iat_is_refused_as_invalid_request() {
        for iat in [None, Some(json!("1700000000"))] {
            let mut c = claims();
            match iat {
                Some(iat) => c["iat"] = iat,
                None => {
                    c.as_object_mut().unwrap().remove("iat");
                }
            }
            assert_refused(
                check(&rs256(&header("RS256", "rsa"), &c), &Algorithm::ALL),
                "invalid_request",
                "no iat",
            );
        }
    }

    #[test]
    fn malformed_set_is_refused_as_invalid_request() {
        for set in ["", "not-a-jws", "e30.e30"] {
            assert_refused(
                check(set, &Algorithm::ALL),
                "invalid_request",
                Reason::Malformed.description(),
            );
        }
    }
}
