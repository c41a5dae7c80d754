//! Request parameters. OAuth forbids repeating a parameter (RFC 6749 §3.1,
//! §3.2), so parameters are parsed into a map that refuses duplicates instead
//! of silently keeping the first or last value.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header};

use crate::error::OAuthError;

/// No endpoint takes more than a few dozen parameters; a request with more
/// is refused before any of them is looked at.
pub const MAX_PARAMS: usize = 100;
/// Longest parameter name or value. The longest real values are JWTs
/// (`id_token_hint`, a bearer `access_token`), a few KiB at most.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// The parameters of one request, each at most once.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
    /// Names sent more than once, and the first of them for the message.
    duplicated: HashSet<String>,
    first_duplicate: Option<String>,
    /// A value held a NUL character: no protocol value has one, and
    /// PostgreSQL cannot store or compare it, so it is refused outright.
    has_nul: bool,
    /// More than `MAX_PARAMS` parameters: the rest were not read.
    too_many: bool,
    /// A name or value longer than `MAX_VALUE_BYTES`: it was not kept.
    too_long: bool,
}

impl Params {
    /// One pass over the pairs, each looked up in a hash set: linear in the
    /// input, and at most `MAX_PARAMS + 1` pairs are decoded at all.
    pub fn parse(encoded: &[u8]) -> Self {
        let mut params = Params::default();
        for (i, (k, v)) in form_urlencoded::parse(encoded).enumerate() {
            if i == MAX_PARAMS {
                params.too_many = true;
                break;
            }
            if k.contains('\0') || v.contains('\0') {
                params.has_nul = true;
                continue;
            }
            if k.len() > MAX_VALUE_BYTES || v.len() > MAX_VALUE_BYTES {
                params.too_long = true;
                continue;
            }
            if params.values.contains_key(k.as_ref()) {
                if params.duplicated.insert(k.to_string()) && params.first_duplicate.is_none() {
                    params.first_duplicate = Some(k.into_owned());
                }
            } else {
                params.values.insert(k.into_owned(), v.into_owned());
            }
        }
        params
    }

    /// The request exceeds the parameter limits (count or length). The
    /// extractors refuse such a request outright; `reject_malformed` does too.
    pub fn over_limits(&self) -> Option<OAuthError> {
        if self.too_many {
            return Some(OAuthError::InvalidRequest(
                format!("too many parameters (at most {MAX_PARAMS})").into(),
            ));
        }
        if self.too_long {
            return Some(OAuthError::InvalidRequest(
                format!("a parameter is too long (at most {MAX_VALUE_BYTES} bytes)").into(),
            ));
        }
        None
    }

    /// RFC 6749 §3.1: "Request and response parameters MUST NOT be included
    /// more than once." Values with a NUL character are refused too (RFC 6749
    /// Appendix A: no parameter syntax allows control characters).
    pub fn reject_malformed(&self) -> Result<(), OAuthError> {
        if let Some(e) = self.over_limits() {
            return Err(e);
        }
        if self.has_nul {
            return Err(OAuthError::InvalidRequest(
                "a parameter contains a NUL character".into(),
            ));
        }
        // RFC 6749 §4.1.2.1 / §5.2: error_description may only hold
        // %x20-21 / %x23-5B / %x5D-7E, so a name outside that set (it comes
        // from the client) is not echoed.
        let describable = |name: &str| {
            name.len() <= 64
                && name
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
        };
        match &self.first_duplicate {
            Some(name) if describable(name) => Err(OAuthError::InvalidRequest(
                format!("parameter {name} was sent more than once").into(),
            )),
            Some(_) => Err(OAuthError::InvalidRequest(
                "a parameter was sent more than once".into(),
            )),
            None => Ok(()),
        }
    }

    pub fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.contains(name)
    }

    /// RFC 6749 §3.1: parameters sent without a value are treated as omitted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("missing parameter {name}").into()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The same parameters without those named in `names`.
    pub fn without(&self, names: &[&str]) -> Params {
        let mut kept = self.clone();
        kept.values.retain(|k, _| !names.contains(&k.as_str()));
        kept
    }

    /// The parameters (each name once) in `application/x-www-form-urlencoded`
    /// form, e.g. to repeat a POSTed request as a GET.
    pub fn to_urlencoded(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.values.iter())
            .finish()
    }
}

/// Parameters from the query string (GET) or a form body (POST).
pub struct QueryOrForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for QueryOrForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            let params = Params::parse(req.uri().query().unwrap_or("").as_bytes());
            return match params.over_limits() {
                Some(e) => Err(e),
                None => Ok(QueryOrForm(params)),
            };
        }
        let Form(params) = Form::from_request(req, state).await?;
        Ok(QueryOrForm(params))
    }
}

/// An `application/x-www-form-urlencoded` body (RFC 6749 §4.1.3, RFC 7009
/// §2.1, RFC 7662 §2.1 all use it). Its size is bounded by the router's one
/// body limit (`http.max_body_bytes`, src/routes.rs), not here.
pub struct Form(pub Params);

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|_| {
                OAuthError::InvalidRequest("the request body is too large or unreadable".into())
            })?;
        let _ = state;
        let params = Params::parse(&body);
        match params.over_limits() {
            Some(e) => Err(e),
            None => Ok(Form(params)),
        }
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Bytes of a body that may be empty (GET) or a form (POST).
pub fn form_bytes_or_empty(headers: &HeaderMap, body: &Bytes) -> Params {
    if is_form(headers) {
        Params::parse(body)
    } else {
        Params::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_detected_and_empty_values_are_absent() {
        let p = Params::parse(b"a=1&b=&a=2&c=x%20y");
        assert!(p.reject_malformed().is_err());
        assert!(p.is_duplicated("a"));
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(Params::parse(b"a=1&b=2").reject_malformed().is_ok());
    }

    #[test]
    fn parameters_past_the_limits_are_refused() {
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=&")).collect();
        let p = Params::parse(many.as_bytes());
        assert!(p.over_limits().is_some());
        assert!(p.reject_malformed().is_err());
        let enough: String = (0..MAX_PARAMS).map(|i| format!("p{i}=&")).collect();
        assert!(Params::parse(enough.as_bytes()).reject_malformed().is_ok());
        let long = format!("a={}", "x".repeat(MAX_VALUE_BYTES + 1));
        let p = Params::parse(long.as_bytes());
        assert!(p.over_limits().is_some());
        assert_eq!(p.get("a"), None);
    }

    #[test]
    fn the_first_repeated_name_is_named() {
        let p = Params::parse(b"b=1&a=1&a=2&b=2");
        let e = p.reject_malformed().unwrap_err();
        assert_eq!(e.description(), Some("parameter a was sent more than once"));
    }
}
