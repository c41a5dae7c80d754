//! A browser: its own cookie jar, following our redirects by hand and filling
//! in the login and consent pages.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use url::Url;

use super::*;

/// What the browser ended on.
#[derive(Debug)]
pub enum Landing {
    /// Redirected to the client's redirect URI (or another external URL).
    Redirect(Url),
    /// A page of ours that is not a form we know how to fill.
    Page { status: StatusCode, body: String },
}

impl Landing {
    pub fn redirect(self) -> Url {
        match self {
            Landing::Redirect(u) => u,
            Landing::Page { status, body } => {
                panic!("expected a redirect, got a page ({status}): {body}")
            }
        }
    }

    pub fn param(&self, name: &str) -> Option<String> {
        match self {
            Landing::Redirect(u) => u
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned()),
            Landing::Page { .. } => None,
        }
    }
}

pub struct Browser {
    pub http: reqwest::Client,
}

/// A parsed HTML form: where it posts and its fields.
#[derive(Debug, Clone)]
pub struct HtmlForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub has_password: bool,
}

pub fn parse_forms(base: &Url, html: &str) -> Vec<HtmlForm> {
    let doc = Html::parse_document(html);
    let form_sel = Selector::parse("form").unwrap();
    let input_sel = Selector::parse("input").unwrap();
    doc.select(&form_sel)
        .map(|form| {
            let action = form.value().attr("action").unwrap_or("");
            let action = base.join(action).map(|u| u.to_string()).unwrap_or_default();
            let mut fields = Vec::new();
            let mut has_password = false;
            for input in form.select(&input_sel) {
                let v = input.value();
                if v.attr("type") == Some("password") {
                    has_password = true;
                }
                if let Some(name) = v.attr("name") {
                    fields.push((name.to_owned(), v.attr("value").unwrap_or("").to_owned()));
                }
            }
            HtmlForm {
                action,
                fields,
                has_password,
            }
        })
        .collect()
}

impl Browser {
    /// Follow redirects while they stay on `server`; stop at the first
    /// redirect elsewhere or at a page.
    pub async fn go(&self, server: &TestServer, url: &str) -> (Url, Landing) {
        let mut url = Url::parse(url).expect("url");
        for _ in 0..10 {
            let response = self
                .http
                .get(url.clone())
                .send()
                .await
                .expect("browser GET");
            match self.landing(server, &url, response).await {
                Step::Follow(next) => url = next,
                Step::Done(l) => return (url, l),
            }
        }
        panic!("too many redirects");
    }

    pub async fn post_form(&self, server: &TestServer, form: &HtmlForm) -> (Url, Landing) {
        let url = Url::parse(&form.action).expect("form action");
        let response = self
            .http
            .post(url.clone())
            .form(&form.fields)
            .send()
            .await
            .expect("browser POST");
        match self.landing(server, &url, response).await {
            Step::Follow(next) => self.go(server, next.as_str()).await,
            Step::Done(l) => (url, l),
        }
    }

    async fn landing(&self, server: &TestServer, url: &Url, response: reqwest::Response) -> Step {
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()["location"]
                .to_str()
                .expect("location")
                .to_owned();
            let next = url.join(&location).expect("redirect target");
            if next.as_str().starts_with(&server.base) {
                return Step::Follow(next);
            }
            return Step::Done(Landing::Redirect(next));
        }
        let body = response.text().await.expect("body");
        Step::Done(Landing::Page { status, body })
    }

    /// Sign in on the login page the browser is on.
    pub async fn login(
        &self,
        server: &TestServer,
        page_url: &Url,
        page: &str,
        username: &str,
        password: &str,
    ) -> (Url, Landing) {
        let mut form = parse_forms(page_url, page)
            .into_iter()
            .find(|f| f.has_password)
            .expect("a login form");
        set_field(&mut form, "username", username);
        set_field(&mut form, "password", password);
        self.post_form(server, &form).await
    }

    /// Press the consent button with `decision` (approve or deny).
    pub async fn consent(
        &self,
        server: &TestServer,
        page_url: &Url,
        page: &str,
        decision: &str,
    ) -> (Url, Landing) {
        let mut form = parse_forms(page_url, page)
            .into_iter()
            .next()
            .expect("a consent form");
        form.fields.push(("decision".into(), decision.into()));
        self.post_form(server, &form).await
    }

    /// Run an authorization request to its end as a user who signs in with
    /// `password` when asked and approves consent when asked.
    pub async fn authorize(
        &self,
        server: &TestServer,
        auth_url: &str,
        username: &str,
        password: &str,
    ) -> Landing {
        let (mut at, mut landing) = self.go(server, auth_url).await;
        for _ in 0..4 {
            match &landing {
                Landing::Redirect(_) => return landing,
                Landing::Page { body, .. } => {
                    let forms = parse_forms(&at, body);
                    if forms.iter().any(|f| f.has_password) {
                        let body = body.clone();
                        (at, landing) = self.login(server, &at, &body, username, password).await;
                    } else if body.contains("name=\"decision\"") {
                        let body = body.clone();
                        (at, landing) = self.consent(server, &at, &body, "approve").await;
                    } else {
                        return landing;
                    }
                }
            }
        }
        landing
    }
}

enum Step {
    Follow(Url),
    Done(Landing),
}

pub fn set_field(form: &mut HtmlForm, name: &str, value: &str) {
    match form.fields.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = value.to_owned(),
        None => form.fields.push((name.to_owned(), value.to_owned())),
    }
}
