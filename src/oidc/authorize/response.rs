//! Delivering the authorization response, success or error, to the client's
//! redirect URI in the response mode it asked for: `query` (RFC 6749
//! §4.1.2, the default for the code flow) or `form_post` (OAuth 2.0 Form
//! Post Response Mode).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::http::headers::form_post_page;
use crate::pages::PageError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

impl ResponseMode {
    pub const SUPPORTED: [&'static str; 2] = ["query", "form_post"];

    /// OAuth 2.0 Multiple Response Type Encoding Practices §2.1: the
    /// `response_mode` parameter. Absent means the default of the code flow
    /// (query); a repeated one counts as absent here and is refused as
    /// malformed right after, delivered in the default mode.
    pub fn of(params: &Params) -> Result<Self, OAuthError> {
        if params.is_duplicated("response_mode") {
            return Ok(ResponseMode::Query);
        }
        match params.get("response_mode") {
            None | Some("query") => Ok(ResponseMode::Query),
            Some("form_post") => Ok(ResponseMode::FormPost),
            // OpenID Core §3.1.2.6 / RFC 6749 §4.1.2.1: an unsupported mode
            // is the client's error, sent to its redirect URI (known good by
            // now) in the default mode, the only one we can be sure it
            // reads. The value is not echoed (§4.1.2.1's character set).
            Some(_) => Err(OAuthError::InvalidRequest(
                "unsupported response_mode (query, form_post)".into(),
            )),
        }
    }
}

/// The script that submits the form_post page: only the form, only once.
/// Without JavaScript the page shows its button instead.
const SUBMIT_SCRIPT: &str = "document.forms[0].submit();";

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
    script: &'a str,
}

/// Send `pairs` to the registered `redirect_uri` in `mode`.
pub fn deliver(redirect_uri: &str, mode: ResponseMode, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return PageError::bad_request(
            "Invalid redirect URI",
            "The application's registered redirect URI is not a valid URL.",
        )
        .into_response();
    };
    match mode {
        ResponseMode::Query => {
            // RFC 6749 §4.1.2: existing query components are kept.
            url.query_pairs_mut().extend_pairs(pairs);
            let mut response = Redirect::to(url.as_str()).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        // Form Post Response Mode §2: an HTML form, POSTed by the user agent
        // to the redirect URI, values form-encoded (askama escapes them for
        // HTML). The page is not cached (`html_page`: no-store).
        ResponseMode::FormPost => {
            let page = FormPostPage {
                action: redirect_uri,
                fields: pairs,
                script: SUBMIT_SCRIPT,
            };
            match page.render() {
                Ok(html) => form_post_page(
                    (StatusCode::OK, Html(html)).into_response(),
                    redirect_uri,
                    SUBMIT_SCRIPT,
                ),
                Err(e) => PageError::Internal(e.into()).into_response(),
            }
        }
    }
}
