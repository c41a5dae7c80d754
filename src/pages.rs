//! Server-rendered pages (askama templates in `templates/`). No JavaScript:
//! every page works as plain HTML forms.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::http::headers::html_page;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub action: &'a str,
    pub client_id: &'a str,
    pub interaction: &'a str,
    pub csrf_token: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub action: &'a str,
    pub client_id: &'a str,
    pub username: &'a str,
    pub scopes: Vec<String>,
    pub interaction: &'a str,
    pub csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub code: Option<&'a str>,
}

/// Render a page with the hosted-page security headers.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => html_page((status, Html(html)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            html_page((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

/// The error page of the authorization endpoint, for errors that must not be
/// redirected (OpenID Core §3.1.2.6, RFC 6749 §4.1.2.1: unknown client or
/// unregistered redirect URI).
pub fn error(status: StatusCode, title: &str, message: &str, code: Option<&str>) -> Response {
    tracing::info!(title, message, code, "error page shown");
    render(
        status,
        &ErrorPage {
            title,
            message,
            code,
        },
    )
}

/// What a scope lets an application do, in words a user understands.
pub fn describe_scope(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Know who you are (your account identifier)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "address" => "See your postal address",
        "phone" => "See your phone number",
        "offline_access" => "Stay signed in and access your data while you are away",
        _ => return None,
    })
}
