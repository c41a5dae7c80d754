//! Response headers by kind of response.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::Url;

/// The Content-Security-Policy of a hosted page. No script (the pages are
/// plain forms) but the form_post page's one, allowed by its hash; no framing by anyone (RFC 9700 §4.16, clickjacking);
/// frames only from `frame_sources`; and forms only to this origin and to
/// `form_targets`. CSP 3 `form-action` also governs the redirects that follow
/// a form submission (CSP 3 §6.4.1; Chromium enforces it), so a page whose
/// form is answered with a redirect to a relying party (login, consent,
/// logout confirmation) must name that party's URI.
fn page_policy(frame_sources: &[String], form_targets: &[String], scripts: &[String]) -> String {
    let mut csp =
        String::from("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
    if !scripts.is_empty() {
        csp.push_str("; script-src ");
        csp.push_str(&scripts.join(" "));
    }
    if !frame_sources.is_empty() {
        csp.push_str("; frame-src ");
        csp.push_str(&frame_sources.join(" "));
    }
    csp.push_str("; form-action 'self'");
    for target in form_targets {
        csp.push(' ');
        csp.push_str(target);
    }
    csp.push_str("; frame-ancestors 'none'; base-uri 'none'");
    csp
}

fn set_policy(
    response: &mut Response,
    frame_sources: &[String],
    form_targets: &[String],
    scripts: &[String],
) {
    if let Ok(value) = HeaderValue::from_str(&page_policy(frame_sources, form_targets, scripts)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The CSP source expression that allows exactly this URL: origin and path
/// (CSP 3 §6.7.2.10: a path without a trailing slash matches only itself;
/// the query is not matched). A path with characters a source expression
/// cannot hold falls back to the origin; a URL without a network origin (a
/// native app's private-use scheme, `com.example.app:/cb`) to its scheme.
pub fn source_expression(url: &Url) -> String {
    let origin = url.origin();
    if !origin.is_tuple() {
        return format!("{}:", url.scheme());
    }
    let origin = origin.ascii_serialization();
    let path = url.path();
    if path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'\'')
    {
        format!("{origin}{path}")
    } else {
        origin
    }
}

/// Hosted HTML pages: the CSP above, X-Frame-Options (RFC 7034) for older
/// browsers, no referrer leaking codes or state, no caching of pages that
/// carry CSRF tokens.
pub fn html_page(mut response: Response) -> Response {
    set_policy(&mut response, &[], &[], &[]);
    let h = response.headers_mut();
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
    set_policy(&mut response, frame_sources, &[], &[]);
    response
}

/// A hosted page whose form may be answered with a redirect to `target` (a
/// registered redirect or post-logout redirect URI): its `form-action` allows
/// that URI besides this origin.
pub fn allow_form_redirect_to(mut response: Response, target: Option<&str>) -> Response {
    let targets: Vec<String> = target
        .and_then(|t| Url::parse(t).ok())
        .map(|u| source_expression(&u))
        .into_iter()
        .collect();
    set_policy(&mut response, &[], &targets, &[]);
    response
}

/// The form_post response page (OAuth 2.0 Form Post Response Mode §2): its
/// form posts to `target`, and the one inline script that submits it is
/// allowed by its hash (CSP 3 §8.2: `'sha256-…'`), nothing else.
pub fn form_post_page(response: Response, target: &str, script: &str) -> Response {
    let mut response = html_page(response);
    let targets: Vec<String> = Url::parse(target)
        .ok()
        .map(|u| source_expression(&u))
        .into_iter()
        .collect();
    let hash = STANDARD.encode(openssl::sha::sha256(script.as_bytes()));
    set_policy(&mut response, &[], &targets, &[format!("'sha256-{hash}'")]);
    response
}

/// RFC 6797 §7.1: an https issuer tells browsers to reach it over https only
/// (one year; subdomains are the operator's to decide, so they are left out).
pub async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// Token and user data (RFC 6749 §5.1, OpenID Core §5.3.2).
pub fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_expressions() {
        let u = Url::parse("https://rp.example.com:8443/fc/logout?iss=x&sid=y").unwrap();
        assert_eq!(
            source_expression(&u),
            "https://rp.example.com:8443/fc/logout"
        );
        let odd = Url::parse("https://rp.example.com/a;b").unwrap();
        assert_eq!(source_expression(&odd), "https://rp.example.com");
        let native = Url::parse("com.example.app:/cb").unwrap();
        assert_eq!(source_expression(&native), "com.example.app:");
    }

    #[test]
    fn form_action_names_self_and_the_redirect_target() {
        let csp = page_policy(&[], &["https://rp.example.com/cb".into()], &[]);
        assert!(
            csp.contains("; form-action 'self' https://rp.example.com/cb;"),
            "{csp}"
        );
        assert!(page_policy(&[], &[], &[]).contains("; form-action 'self';"));
    }
}
