//! The bearer token of a request (RFC 6750 §2.1: the Authorization header;
//! the form-body and query methods of §2.2 and §2.3 are not accepted).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::Rejection;

/// The token in `Authorization: Bearer <token>`.
pub fn token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::MissingToken);
    };
    if values.next().is_some() {
        return Err(Rejection::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Rejection::InvalidRequest("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // RFC 9110 §11.1: the scheme is case-insensitive. RFC 6750 §3.1: a
    // request using another method lacks bearer credentials, so it gets
    // the bare challenge.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(Rejection::InvalidRequest("malformed bearer token"));
    }
    Ok(token)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_tokens_and_their_errors() {
        let cases: &[(&[&str], Result<&str, Rejection>)] = &[
            (&["Bearer abc.def.ghi"], Ok("abc.def.ghi")),
            (&["bearer a-b_c~d+e/f=="], Ok("a-b_c~d+e/f==")),
            (&["BEARER  x"], Ok("x")),
            (&[], Err(Rejection::MissingToken)),
            (&["Basic dXNlcjpwYXNz"], Err(Rejection::MissingToken)),
            (
                &["Bearer"],
                Err(Rejection::InvalidRequest("malformed bearer token")),
            ),
            (
                &["Bearer a b"],
                Err(Rejection::InvalidRequest("malformed bearer token")),
            ),
            (
                &["Bearer ==="],
                Err(Rejection::InvalidRequest("malformed bearer token")),
            ),
            (
                &["Bearer a", "Bearer b"],
                Err(Rejection::InvalidRequest(
                    "more than one Authorization header",
                )),
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(token(&with(headers)), *expected, "{headers:?}");
        }
    }
}
