//! Client authentication at the token, revocation and introspection
//! endpoints: the Authorization header (HTTP Basic, RFC 6749 §2.3.1) and the
//! form body, through the same extractor the handlers use.
//!
//! Input: the Authorization header value, a newline, the form body. No
//! newline: no header.
#![no_main]

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderValue, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use signoff::oidc::client_auth::AuthenticatedClient;
use signoff_fuzz::Harness;

fuzz_target!(|data: &[u8]| {
    let harness = Harness::get(false);
    let (authorization, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let mut request = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .expect("request");
    if let Some(value) = authorization {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return;
        };
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let result = harness
        .runtime
        .block_on(AuthenticatedClient::from_request(request, &harness.state));
    match result {
        Ok(client) => {
            // Only the public client exists, and it has no secret to present.
            assert_eq!(client.client.id, signoff_fuzz::PUBLIC);
            assert!(authorization.is_none());
        }
        Err(e) => {
            assert_ne!(e.status(), StatusCode::INTERNAL_SERVER_ERROR, "{e:?}");
            assert!(
                matches!(e.code(), "invalid_request" | "invalid_client"),
                "{e:?}"
            );
        }
    }
});
