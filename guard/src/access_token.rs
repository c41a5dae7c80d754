//! RFC 9068 §4: validating a JWT access token once its signature checked out,
//! and the time checks made on every use.

use serde_json::{Map, Value};

use crate::claims::{ClaimsData, TokenKind};
use crate::error::Reason;

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
pub(crate) fn audiences(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, Reason> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Reason::Malformed),
    }
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Reason> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(Reason::Malformed),
    }
}

/// The claims of a verified JWT access token, checked against the issuer
/// and audience the guard serves.
pub(crate) fn from_jwt(
    claims: Map<String, Value>,
    kid: Option<String>,
    issuer: &str,
    audience: &str,
) -> Result<ClaimsData, Reason> {
    let required = |v: Option<String>| v.ok_or(Reason::MissingClaim);
    let iss = required(string(&claims, "iss")?)?;
    // RFC 9068 §4: the issuer must match exactly.
    if iss != issuer {
        return Err(Reason::Issuer);
    }
    // RFC 9068 §4: `aud` must contain the resource's identifier.
    let aud = audiences(claims.get("aud")).ok_or(Reason::MissingClaim)?;
    if !aud.iter().any(|a| a == audience) {
        return Err(Reason::Audience);
    }
    // RFC 9449 §7.2 (RFC 7800 §3.1): a token bound to a key is accepted only
    // with a proof by that key, which this guard does not check; as a
    // bearer token it is refused, or binding would protect nothing here.
    if claims.contains_key("cnf") {
        return Err(Reason::SenderConstrained);
    }
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are required.
    Ok(ClaimsData {
        kind: TokenKind::Jwt,
        sub: required(string(&claims, "sub")?)?,
        client_id: required(string(&claims, "client_id")?)?,
        jti: Some(required(string(&claims, "jti")?)?),
        exp: number(&claims, "exp")?.ok_or(Reason::MissingClaim)?,
        iat: Some(number(&claims, "iat")?.ok_or(Reason::MissingClaim)?),
        nbf: number(&claims, "nbf")?,
        scope: string(&claims, "scope")?.unwrap_or_default(),
        sid: string(&claims, "sid")?,
        gid: string(&claims, "gid")?,
        ver: number(&claims, "ver")?,
        cver: number(&claims, "cver")?,
        iss,
        aud,
        kid,
        all: claims,
    })
}

/// RFC 7519 §4.1.4 and §4.1.5 (with `leeway` seconds for clock skew, as
/// RFC 9068 §4 allows), and an `iat` not in the future.
pub(crate) fn check_time(c: &ClaimsData, now: i64, leeway: i64) -> Result<(), Reason> {
    if now >= c.exp + leeway {
        return Err(Reason::Expired);
    }
    if c.nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(Reason::NotYetValid);
    }
    if c.iat.is_some_and(|iat| iat > now + leeway) {
        return Err(Reason::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({ "iss": "https://op", "aud": "https://api", "sub": "u", "client_id": "c",
                "jti": "j", "exp": 200, "iat": 100, "scope": "a b" })
    }

    #[test]
    fn claim_rules() {
        let ok = from_jwt(claims(good()), None, "https://op", "https://api").unwrap();
        assert_eq!(ok.scope, "a b");
        let mut array_aud = good();
        array_aud["aud"] = json!(["https://other", "https://api"]);
        assert!(from_jwt(claims(array_aud), None, "https://op", "https://api").is_ok());
        let cases: Vec<(&str, Value, Reason)> = vec![
            ("iss", json!("https://evil"), Reason::Issuer),
            ("aud", json!("https://other"), Reason::Audience),
            ("aud", json!(["https://other"]), Reason::Audience),
            ("aud", json!(5), Reason::MissingClaim),
            ("sub", Value::Null, Reason::MissingClaim),
            ("client_id", Value::Null, Reason::MissingClaim),
            ("jti", Value::Null, Reason::MissingClaim),
            ("exp", Value::Null, Reason::MissingClaim),
            ("iat", Value::Null, Reason::MissingClaim),
            ("exp", json!("soon"), Reason::Malformed),
            ("sub", json!(7), Reason::Malformed),
            (
                "cnf",
                json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
                Reason::SenderConstrained,
            ),
        ];
        for (name, value, expected) in cases {
            let mut c = good();
            c[name] = value.clone();
            assert_eq!(
                from_jwt(claims(c), None, "https://op", "https://api").err(),
                Some(expected),
                "{name} = {value}"
            );
        }
    }

    #[test]
    fn time_rules() {
        let mut c = from_jwt(claims(good()), None, "https://op", "https://api").unwrap();
        assert_eq!(check_time(&c, 150, 0), Ok(()));
        assert_eq!(check_time(&c, 200, 0), Err(Reason::Expired));
        assert_eq!(check_time(&c, 209, 10), Ok(()));
        assert_eq!(check_time(&c, 99, 0), Err(Reason::IssuedInFuture));
        c.nbf = Some(160);
        assert_eq!(check_time(&c, 150, 0), Err(Reason::NotYetValid));
        assert_eq!(check_time(&c, 150, 10), Ok(()));
    }
}
