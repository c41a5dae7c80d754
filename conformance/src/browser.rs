//! A small browser-like walker that plays the End-User at the provider's pages.
//!
//! It keeps a cookie jar, follows redirects while they stay on the provider's origin,
//! and stops at the first redirect that leaves it (the RP's redirect_uri or
//! post_logout_redirect_uri, or anything else the provider sends the user to).
//! Pages are read with a real HTML parser: a form with a password input is a login
//! form; otherwise the walker submits the form whose button (or a lone auto-submit form)
//! reads as approval: approve/allow/continue/yes/accept/confirm/sign out/log out.

use reqwest::{Method, redirect::Policy};
use scraper::{ElementRef, Html, Selector};
use url::Url;

/// How many requests one walk may make before it is declared stuck.
const MAX_STEPS: usize = 16;

const APPROVE: &[&str] = &[
    "approve",
    "allow",
    "continue",
    "yes",
    "accept",
    "confirm",
    "authorize",
    "authorise",
    "consent",
    "grant",
    "sign out",
    "log out",
    "logout",
    "signout",
];
const DENY: &[&str] = &["deny", "cancel", "no", "reject", "abort", "decline", "stay"];

#[derive(Debug)]
pub enum End {
    /// The provider redirected off its own origin; the walker did not follow.
    Left(Url),
    /// The walk ended on a provider page the walker had nothing to do on.
    Page { url: Url, status: u16, body: String },
}

#[derive(Debug)]
pub struct Walk {
    pub end: End,
    /// Login forms filled in during the walk.
    pub logins: usize,
    /// Consent or confirmation forms approved during the walk (not a form_post page's form).
    pub approvals: usize,
    /// Every iframe src met on the way (front-channel logout renders these).
    pub iframes: Vec<Url>,
    /// When the walk left the provider by submitting a POST form (a form_post response),
    /// the form's fields: what the browser sent off the provider's origin.
    pub posted: Option<Vec<(String, String)>>,
    pub trace: Vec<String>,
}

impl Walk {
    /// Where the provider sent the user when it left its origin.
    pub fn left_to(&self) -> Option<&Url> {
        match &self.end {
            End::Left(u) => Some(u),
            End::Page { .. } => None,
        }
    }

    /// The status of the provider page the walk ended on, when it was a 5xx.
    pub fn server_error(&self) -> Option<u16> {
        match &self.end {
            End::Page { status, .. } if *status >= 500 => Some(*status),
            _ => None,
        }
    }

    pub fn describe_end(&self) -> String {
        match &self.end {
            End::Left(u) => format!("redirected to {u}"),
            End::Page { url, status, body } => {
                format!(
                    "stopped on a {status} page at {url}: {}",
                    page_summary(body)
                )
            }
        }
    }
}

/// The visible text of a page, squeezed and cut short, for messages.
pub fn page_summary(body: &str) -> String {
    let doc = Html::parse_document(body);
    let sel = Selector::parse("body").expect("static selector");
    let text: String = match doc.select(&sel).next() {
        Some(b) => b.text().collect::<Vec<_>>().join(" "),
        None => body.to_string(),
    };
    let squeezed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    squeezed.chars().take(160).collect()
}

pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

pub struct Browser {
    http: reqwest::Client,
    origin: url::Origin,
    verbose: bool,
}

#[derive(Clone)]
struct Field {
    name: String,
    /// The input's type ("text", "password", "hidden", ...) or the tag for select/textarea.
    kind: String,
    value: String,
}

#[derive(Clone)]
struct Form {
    action: Url,
    method: Method,
    fields: Vec<Field>,
    has_password: bool,
    /// (name, value, label) of each submit button belonging to the form.
    buttons: Vec<(Option<String>, Option<String>, String)>,
}

enum Action {
    Login(Form),
    Approve(Form, Option<(String, String)>),
    Refresh(Url),
    Nothing,
}

impl Browser {
    /// A browser with an empty cookie jar, at home on the provider's origin.
    pub fn new(issuer: &Url, verbose: bool) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .user_agent("signoff-conformance walker")
            .build()
            .expect("a client with static settings");
        Browser {
            http,
            origin: issuer.origin(),
            verbose,
        }
    }

    /// Opens `url` and walks until the provider lets go of the user.
    pub async fn get(&self, url: Url, creds: &Credentials<'_>) -> Result<Walk, String> {
        self.walk(Method::GET, url, Vec::new(), creds).await
    }

    /// Submits a form-encoded POST to `url` (e.g. an authorization request by POST), then walks.
    pub async fn post(
        &self,
        url: Url,
        form: Vec<(String, String)>,
        creds: &Credentials<'_>,
    ) -> Result<Walk, String> {
        self.walk(Method::POST, url, form, creds).await
    }

    async fn walk(
        &self,
        mut method: Method,
        mut url: Url,
        mut form: Vec<(String, String)>,
        creds: &Credentials<'_>,
    ) -> Result<Walk, String> {
        let mut walk = Walk {
            end: End::Left(url.clone()),
            logins: 0,
            approvals: 0,
            iframes: Vec::new(),
            posted: None,
            trace: Vec::new(),
        };
        for _ in 0..MAX_STEPS {
            if url.origin() != self.origin {
                if method == Method::POST {
                    walk.posted = Some(form);
                }
                walk.end = End::Left(url);
                return Ok(walk);
            }
            let mut req = self.http.request(method.clone(), url.clone());
            if method == Method::POST {
                req = req.form(&form);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            let status = resp.status();
            let line = format!("{method} {url} -> {}", status.as_u16());
            if self.verbose {
                eprintln!("    walker: {line}");
            }
            walk.trace.push(line);
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} from {url} without a Location"))?;
                url = url
                    .join(location)
                    .map_err(|e| format!("bad Location {location:?}: {e}"))?;
                method = Method::GET;
                form.clear();
                continue;
            }
            let body = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
            let page_url = url.clone();
            let action = {
                let doc = Html::parse_document(&body);
                collect_iframes(&doc, &page_url, &mut walk.iframes);
                decide(&doc, &page_url, creds)
            };
            match action {
                Action::Login(f) => {
                    walk.logins += 1;
                    form = f.pairs();
                    (method, url) = (f.method, f.action);
                }
                Action::Approve(f, button) => {
                    // A form that posts off the provider's origin hands a response to the
                    // RP (a form_post page); it asks the user nothing.
                    if f.action.origin() == self.origin {
                        walk.approvals += 1;
                    }
                    form = f.pairs();
                    form.extend(button);
                    (method, url) = (f.method, f.action);
                }
                Action::Refresh(target) => {
                    (method, url) = (Method::GET, target);
                    form.clear();
                }
                Action::Nothing => {
                    walk.end = End::Page {
                        url: page_url,
                        status: status.as_u16(),
                        body,
                    };
                    return Ok(walk);
                }
            }
            if method == Method::GET && !form.is_empty() {
                url.query_pairs_mut().extend_pairs(form.iter());
                form.clear();
            }
        }
        Err(format!(
            "the walker gave up after {MAX_STEPS} requests: {}",
            walk.trace.join("; ")
        ))
    }
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector")
}

fn collect_iframes(doc: &Html, base: &Url, out: &mut Vec<Url>) {
    for el in doc.select(&sel("iframe[src]")) {
        if let Some(u) = el.value().attr("src").and_then(|s| base.join(s).ok()) {
            out.push(u);
        }
    }
}

fn words_match(label: &str, list: &[&str]) -> bool {
    let lower = label.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.join(" ");
    list.iter().any(|needle| {
        if needle.contains(' ') {
            joined.contains(needle)
        } else {
            words.contains(needle)
        }
    })
}

/// Whether a submit button reads as approval: its own text/name/value say yes and none say no.
fn approves(name: &Option<String>, value: &Option<String>, label: &str) -> bool {
    let all = [name.as_deref(), value.as_deref(), Some(label)];
    let any_deny = all.iter().flatten().any(|s| words_match(s, DENY));
    let any_approve = all.iter().flatten().any(|s| words_match(s, APPROVE));
    any_approve && !any_deny
}

fn decide(doc: &Html, page: &Url, creds: &Credentials<'_>) -> Action {
    let forms = parse_forms(doc, page);
    if let Some(mut f) = forms.iter().find(|f| f.has_password).cloned() {
        fill_login(&mut f, creds);
        return Action::Login(f);
    }
    for f in &forms {
        for (name, value, label) in &f.buttons {
            if approves(name, value, label) {
                let pair = name.clone().map(|n| (n, value.clone().unwrap_or_default()));
                return Action::Approve(f.clone(), pair);
            }
        }
    }
    // A form without any button is one a script submits on load (e.g. a form_post page).
    if let Some(f) = forms.iter().find(|f| f.buttons.is_empty()) {
        return Action::Approve(f.clone(), None);
    }
    if let Some(target) = meta_refresh(doc, page) {
        return Action::Refresh(target);
    }
    Action::Nothing
}

impl Form {
    fn pairs(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect()
    }
}

/// Fills the first text-like input with the username and every password input with the password.
fn fill_login(f: &mut Form, creds: &Credentials<'_>) {
    let mut filled_user = false;
    for field in f.fields.iter_mut() {
        match field.kind.as_str() {
            "password" => field.value = creds.password.to_string(),
            "text" | "email" | "tel" | "" if !filled_user => {
                filled_user = true;
                field.value = creds.username.to_string();
            }
            _ => {}
        }
    }
}

fn meta_refresh(doc: &Html, page: &Url) -> Option<Url> {
    let el = doc.select(&sel("meta[http-equiv]")).find(|m| {
        m.value()
            .attr("http-equiv")
            .is_some_and(|v| v.eq_ignore_ascii_case("refresh"))
    })?;
    let content = el.value().attr("content")?;
    let (_, target) = content.split_once(';')?;
    let target = target.trim();
    let target = target
        .strip_prefix("url=")
        .or_else(|| target.strip_prefix("URL="))
        .unwrap_or(target)
        .trim_matches(|c| c == '\'' || c == '"');
    page.join(target).ok()
}

fn parse_forms(doc: &Html, page: &Url) -> Vec<Form> {
    let outside_buttons: Vec<ElementRef> = doc.select(&sel("button[form], input[form]")).collect();
    let mut forms = Vec::new();
    for form in doc.select(&sel("form")) {
        let attrs = form.value();
        let action = match attrs.attr("action").filter(|a| !a.is_empty()) {
            Some(a) => match page.join(a) {
                Ok(u) => u,
                Err(_) => continue,
            },
            None => page.clone(),
        };
        let method = match attrs.attr("method").map(str::to_ascii_lowercase).as_deref() {
            Some("post") => Method::POST,
            _ => Method::GET,
        };
        let mut f = Form {
            action,
            method,
            fields: Vec::new(),
            has_password: false,
            buttons: Vec::new(),
        };
        for el in form.select(&sel("input, select, textarea, button")) {
            add_control(&mut f, el, false);
        }
        if let Some(id) = attrs.attr("id") {
            for el in &outside_buttons {
                if el.value().attr("form") == Some(id) {
                    add_control(&mut f, *el, true);
                }
            }
        }
        forms.push(f);
    }
    forms
}

fn add_control(f: &mut Form, el: ElementRef, buttons_only: bool) {
    let v = el.value();
    let tag = v.name();
    let name = v.attr("name").map(str::to_string);
    let kind = v.attr("type").unwrap_or("").to_ascii_lowercase();
    let is_button = tag == "button" && kind != "button" && kind != "reset"
        || tag == "input" && (kind == "submit" || kind == "image");
    if is_button {
        let label = if tag == "button" {
            el.text().collect::<Vec<_>>().join(" ").trim().to_string()
        } else {
            v.attr("value").unwrap_or("").to_string()
        };
        // Skip duplicates (a button with a form attribute inside its own form).
        let entry = (name, v.attr("value").map(str::to_string), label);
        if !f.buttons.contains(&entry) {
            f.buttons.push(entry);
        }
        return;
    }
    if buttons_only || v.attr("disabled").is_some() {
        return;
    }
    let Some(name) = name else { return };
    let value = match tag {
        "textarea" => el.text().collect::<String>(),
        "select" => {
            let opts: Vec<ElementRef> = el.select(&sel("option")).collect();
            let chosen = opts
                .iter()
                .find(|o| o.value().attr("selected").is_some())
                .or(opts.first());
            match chosen {
                Some(o) => o
                    .value()
                    .attr("value")
                    .map(str::to_string)
                    .unwrap_or_else(|| o.text().collect()),
                None => return,
            }
        }
        _ => {
            if (kind == "checkbox" || kind == "radio") && v.attr("checked").is_none() {
                return;
            }
            if kind == "password" {
                f.has_password = true;
            }
            v.attr("value").unwrap_or("").to_string()
        }
    };
    let kind = if tag == "input" {
        kind
    } else {
        tag.to_string()
    };
    f.fields.push(Field { name, kind, value });
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: Credentials<'static> = Credentials {
        username: "alice",
        password: "pw",
    };

    fn page() -> Url {
        Url::parse("http://op.test/interaction/abc").unwrap()
    }

    #[test]
    fn login_form_is_filled_and_keeps_hidden_fields() {
        let html = r#"<form method="post" action="/login">
            <input type="hidden" name="csrf" value="t0k">
            <input type="text" name="username">
            <input type="password" name="password">
            <button type="submit">Sign in</button></form>"#;
        let Action::Login(f) = decide(&Html::parse_document(html), &page(), &CREDS) else {
            panic!("not a login");
        };
        assert_eq!(f.action.as_str(), "http://op.test/login");
        assert_eq!(
            f.pairs(),
            vec![
                ("csrf".into(), "t0k".into()),
                ("username".into(), "alice".into()),
                ("password".into(), "pw".into())
            ]
        );
    }

    #[test]
    fn consent_picks_the_approve_button_not_deny() {
        let html = r#"<form method="post" action="/consent">
            <input type="hidden" name="csrf" value="x">
            <button name="decision" value="deny">Deny</button>
            <button name="decision" value="approve">Allow</button></form>"#;
        let Action::Approve(f, b) = decide(&Html::parse_document(html), &page(), &CREDS) else {
            panic!("no approval");
        };
        assert_eq!(b, Some(("decision".into(), "approve".into())));
        assert_eq!(f.pairs(), vec![("csrf".into(), "x".into())]);
    }

    #[test]
    fn logout_button_outside_its_form_is_found() {
        let html = r#"<form id="op.logoutForm" method="post" action="/session/end/confirm">
            <input type="hidden" name="xsrf" value="s"></form>
            <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
            <button type="submit" form="op.logoutForm">No, stay signed in</button>"#;
        let Action::Approve(f, b) = decide(&Html::parse_document(html), &page(), &CREDS) else {
            panic!("no approval");
        };
        assert_eq!(f.action.path(), "/session/end/confirm");
        assert_eq!(b, Some(("logout".into(), "yes".into())));
    }

    #[test]
    fn error_page_ends_the_walk() {
        let html = "<html><body><h1>oops</h1><p>invalid_request</p></body></html>";
        assert!(matches!(
            decide(&Html::parse_document(html), &page(), &CREDS),
            Action::Nothing
        ));
        assert_eq!(page_summary(html), "oops invalid_request");
    }

    #[test]
    fn iframes_and_meta_refresh_are_read() {
        let html = r#"<html><head><meta http-equiv="Refresh" content="0; url=http://rp.test/done?state=s"></head>
            <body><iframe src="http://rp.test/fc?iss=x&sid=y"></iframe></body></html>"#;
        let doc = Html::parse_document(html);
        let mut frames = Vec::new();
        collect_iframes(&doc, &page(), &mut frames);
        assert_eq!(frames[0].as_str(), "http://rp.test/fc?iss=x&sid=y");
        let Action::Refresh(target) = decide(&doc, &page(), &CREDS) else {
            panic!("no refresh");
        };
        assert_eq!(target.as_str(), "http://rp.test/done?state=s");
    }

    #[test]
    fn deny_words_win_over_approve_words() {
        assert!(!approves(&None, &None, "No, stay signed in"));
        assert!(approves(&None, &None, "Sign out"));
        assert!(!approves(
            &Some("decision".into()),
            &Some("deny".into()),
            "Continue"
        ));
    }
}
