//! Response headers by kind of response.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Hosted HTML pages: no framing, no referrer leaking codes or state, no
/// inline script, no caching of pages that carry CSRF tokens. RFC 9700
/// §4.16 (clickjacking): CSP frame-ancestors, and X-Frame-Options (RFC 7034)
/// for older browsers.
pub fn html_page(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A hosted page that embeds exactly the given frames (Front-Channel
/// Logout 1.0 §4: the signed-out page renders the RPs' logout URIs in
/// iframes): the hosted-page headers, with `frame-src` allowing only those
/// CSP source expressions.
pub fn html_page_with_frames(response: Response, frame_sources: &[String]) -> Response {
    let mut response = html_page(response);
    if frame_sources.is_empty() {
        return response;
    }
    let csp = format!(
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src {}; frame-ancestors 'none'; base-uri 'none'",
        frame_sources.join(" ")
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Token and user data (RFC 6749 §5.1, OpenID Core §5.3.2).
pub fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
