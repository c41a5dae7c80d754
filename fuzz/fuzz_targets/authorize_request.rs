//! The authorization request (RFC 6749 §4.1.1, OpenID Core §3.1.2.1):
//! parameters as /authorize receives them, validated against registered
//! clients and turned into the page or redirect the browser would get.
#![no_main]

use axum::http::StatusCode;
use libfuzzer_sys::fuzz_target;
use signoff::http::extract::Params;
use signoff::oidc::authorize::{Rejection, flow, request};
use signoff_fuzz::Harness;

fuzz_target!(|data: &[u8]| {
    let harness = Harness::get(true);
    let params = Params::parse(data);
    let result = harness
        .runtime
        .block_on(request::validate(&harness.state, &params));
    match result {
        Ok((client, request)) => {
            assert!(client.redirect_uris.contains(&request.redirect_uri));
            assert_eq!(client.id, request.client_id);
            assert!(request.scopes.iter().all(|s| client.allows_scope(s)));
            assert!(request.max_age.is_none_or(|m| m >= 0));
        }
        Err(rejection) => {
            let redirected = matches!(rejection, Rejection::Redirect { .. });
            let response = flow::reject(&harness.state, rejection);
            let status = response.status();
            assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
            if redirected {
                assert!(status.is_redirection(), "{status}");
                let location = response
                    .headers()
                    .get(axum::http::header::LOCATION)
                    .expect("a redirect has a Location");
                let location = url::Url::parse(location.to_str().expect("ASCII Location"))
                    .expect("Location is a URL");
                assert!(
                    location.as_str().starts_with(signoff_fuzz::PUBLIC_REDIRECT)
                        || location
                            .as_str()
                            .starts_with(signoff_fuzz::CONFIDENTIAL_REDIRECT)
                );
            } else {
                assert!(status.is_client_error(), "{status}");
            }
        }
    }
});
