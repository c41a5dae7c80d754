//! Front-Channel Logout 1.0: the signed-out page renders one iframe per
//! relying party of the ended session at its frontchannel_logout_uri (§2),
//! with `iss` and `sid` so the RP knows which session ended (§2, §3). The
//! page's CSP allows exactly those frames.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use super::EndedSession;
use crate::http::headers::{html_page_with_frames, source_expression};
use crate::pages;
use crate::state::AppState;
use crate::store::clients::Client;

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage<'a> {
    pub heading: &'a str,
    pub message: &'a str,
    pub frames: Vec<String>,
    pub continue_to: Option<String>,
}

/// Front-Channel Logout 1.0 §2: the RP's URI with `iss` and `sid` added to
/// any query it already has. We always send both (the OP advertises
/// frontchannel_logout_session_supported), whatever the RP required.
pub fn iframe_url(state: &AppState, client: &Client, sid: &str) -> Option<Url> {
    let mut url = Url::parse(client.frontchannel_logout_uri.as_deref()?).ok()?;
    url.query_pairs_mut()
        .append_pair("iss", state.config.issuer_str())
        .append_pair("sid", sid);
    Some(url)
}

/// The end of a logout: front-channel iframes for the ended sessions' RPs
/// (if any), then on to `continue_to` (the validated post-logout redirect)
/// or a "signed out" page. With no iframes to load, the redirect is
/// immediate; otherwise the page loads the iframes and moves on by a meta
/// refresh (no script: the CSP forbids it), with a link as fallback.
pub fn signed_out(state: &AppState, ended: &[EndedSession], continue_to: Option<Url>) -> Response {
    let frames: Vec<Url> = ended
        .iter()
        .flat_map(|e| {
            e.clients
                .iter()
                .filter_map(|c| iframe_url(state, c, &e.session.id))
        })
        .collect();
    if frames.is_empty()
        && let Some(target) = &continue_to
    {
        let mut response = Redirect::to(target.as_str()).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    let mut sources: Vec<String> = frames.iter().map(source_expression).collect();
    sources.sort();
    sources.dedup();
    let page = SignedOutPage {
        heading: "You have signed out",
        message: if frames.is_empty() {
            "You are no longer signed in to this sign-in service."
        } else {
            "You are no longer signed in. The applications you used are being told."
        },
        frames: frames.iter().map(|u| u.to_string()).collect(),
        continue_to: continue_to.map(|u| u.to_string()),
    };
    html_page_with_frames(pages::render(StatusCode::OK, &page), &sources)
}

/// The page for a user who chose to stay signed in.
pub fn still_signed_in() -> Response {
    pages::render(
        StatusCode::OK,
        &SignedOutPage {
            heading: "You are still signed in",
            message: "Nothing was changed. You can close this page.",
            frames: Vec::new(),
            continue_to: None,
        },
    )
}
