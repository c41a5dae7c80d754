//! Server-rendered pages (askama templates in `templates/`). No JavaScript:
//! every page works as plain HTML forms (the form_post response page,
//! `oidc::authorize::response`, adds one hashed script that only presses
//! its button). A hosted page that cannot go on
//! answers with a [`PageError`], and reads its form through [`PageForm`].

use std::borrow::Cow;
use std::time::Duration;

use askama::Template;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::http::extract::{Form, Params};
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

/// Why a hosted page (the authorization steps, login, consent, logout,
/// account) cannot go on: shown to the user on the error page, never
/// redirected (OpenID Core §3.1.2.6, RFC 6749 §4.1.2.1: not before the client
/// and redirect URI are known good). The one place these pages become a
/// response.
#[derive(Debug)]
pub enum PageError {
    /// The user's request cannot be answered; the page says why.
    Shown {
        status: StatusCode,
        title: &'static str,
        message: Cow<'static, str>,
        /// The protocol error code, when there is one worth showing.
        code: Option<&'static str>,
    },
    /// Every password verification slot is busy (`crate::secrets`): 503
    /// with `Retry-After` seconds.
    Busy(u64),
    /// The client address started too many sign-ins (its budget in
    /// `crate::http::rate`): 429 with `Retry-After` (RFC 6585 §4), in seconds.
    TooManySignIns { retry_after: Duration },
    /// Something broke on our side: logged with its cause; the user sees
    /// only that it happened (500).
    Internal(anyhow::Error),
}

const EXPIRED_SIGN_IN: &str =
    "This sign-in page is no longer valid. Go back to the application and start again.";

impl PageError {
    /// A 400 page.
    pub fn bad_request(title: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        PageError::Shown {
            status: StatusCode::BAD_REQUEST,
            title,
            message: message.into(),
            code: None,
        }
    }

    pub fn not_found(title: &'static str, message: &'static str) -> Self {
        PageError::Shown {
            status: StatusCode::NOT_FOUND,
            title,
            message: message.into(),
            code: None,
        }
    }

    /// Show the protocol error code too.
    pub fn with_code(self, code: &'static str) -> Self {
        match self {
            PageError::Shown {
                status,
                title,
                message,
                ..
            } => PageError::Shown {
                status,
                title,
                message,
                code: Some(code),
            },
            internal => internal,
        }
    }

    /// A sign-in page (login, consent) whose interaction is gone, foreign,
    /// or whose form failed its CSRF check.
    pub fn sign_in_expired() -> Self {
        PageError::bad_request("Sign-in expired", EXPIRED_SIGN_IN)
    }

    /// A form body that is not `application/x-www-form-urlencoded`, or too
    /// large.
    pub fn unreadable_form() -> Self {
        PageError::bad_request("Invalid request", "The form could not be read.")
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::Internal(e)
    }
}

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        PageError::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Shown {
                status,
                title,
                message,
                code,
            } => {
                tracing::info!(title, %message, code, "error page shown");
                render(
                    status,
                    &ErrorPage {
                        title,
                        message: &message,
                        code,
                    },
                )
            }
            PageError::Busy(seconds) => {
                tracing::warn!("sign-in refused: every password check is busy");
                let page = render(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &ErrorPage {
                        title: "Busy",
                        message: "Too many sign-ins are being checked right now. Try again in a moment.",
                        code: None,
                    },
                );
                crate::throttle::with_retry_after(page, seconds)
            }
            PageError::TooManySignIns { retry_after } => {
                // Whole seconds, rounded up: never "retry after 0".
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let seconds = seconds.max(1);
                tracing::info!(retry_after = seconds, "over the per-address budget");
                let page = render(
                    StatusCode::TOO_MANY_REQUESTS,
                    &ErrorPage {
                        title: "Too many sign-ins",
                        message: "Too many sign-ins were started from your network. Wait a moment, then go back to the application and try again.",
                        code: Some("temporarily_unavailable"),
                    },
                );
                crate::throttle::with_retry_after(page, seconds)
            }
            PageError::Internal(e) if crate::store::is_unavailable_any(&e) => {
                tracing::warn!(error = format!("{e:#}"), "database unavailable");
                let page = render(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &ErrorPage {
                        title: "Temporarily unavailable",
                        message: "The sign-in service cannot reach its database. Try again in a moment.",
                        code: Some("temporarily_unavailable"),
                    },
                );
                crate::throttle::with_retry_after(page, crate::error::DB_RETRY_AFTER)
            }
            PageError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "hosted page failed");
                render(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &ErrorPage {
                        title: "Something went wrong",
                        message: "The sign-in service hit an internal error.",
                        code: None,
                    },
                )
            }
        }
    }
}

/// The form of a hosted page's POST. A body that cannot be read gets the
/// hosted error page (with its anti-framing headers), not a protocol error.
pub struct PageForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Form::from_request(req, state).await {
            Ok(Form(params)) => Ok(PageForm(params)),
            Err(_) => Err(PageError::unreadable_form()),
        }
    }
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
