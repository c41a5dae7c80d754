//! Cookies and transport headers of the hosted pages, read off the wire:
//! `__Host-`, `Secure` and `SameSite` by issuer scheme, a fresh session cookie
//! at every sign-in, the POST /authorize fallback for a withheld cookie, CSP
//! `form-action` and HSTS. tests/it/browser.rs checks the same in Chromium.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::common::*;
use reqwest::StatusCode;
use url::Url;

/// A browser that keeps its cookies by hand and reaches an https issuer
/// over plain http (a real cookie jar withholds `Secure` cookies from http;
/// tests/it/browser.rs puts a TLS terminator in front instead). It records every
/// `Set-Cookie` it is sent, attributes included.
struct HandBrowser {
    http: reqwest::Client,
    issuer: String,
    base: String,
    jar: Mutex<BTreeMap<String, String>>,
    set_cookies: Mutex<Vec<String>>,
}

impl HandBrowser {
    fn new(server: &TestServer) -> Self {
        HandBrowser {
            http: http_client(),
            issuer: server.state.config.issuer_str().to_owned(),
            base: server.base.clone(),
            jar: Mutex::new(BTreeMap::new()),
            set_cookies: Mutex::new(Vec::new()),
        }
    }

    /// The server's address for a URL of the issuer.
    fn local(&self, url: &str) -> String {
        match url.strip_prefix(&self.issuer) {
            Some(rest) => format!("{}{rest}", self.base),
            None => url.to_owned(),
        }
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn forget(&self, name: &str) {
        self.jar.lock().unwrap().remove(name);
    }

    /// The `Set-Cookie` headers received for `name`, oldest first.
    fn set_cookie_headers(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}=");
        self.set_cookies
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .cloned()
            .collect()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header("cookie", cookies.join("; "))
        };
        let response = request.send().await.expect("request");
        for header in response.headers().get_all("set-cookie") {
            let header = header.to_str().unwrap().to_owned();
            let (name, value) = header.split(';').next().unwrap().split_once('=').unwrap();
            if header.to_ascii_lowercase().contains("max-age=0") {
                self.forget(name);
            } else {
                self.set_cookie(name, value);
            }
            self.set_cookies.lock().unwrap().push(header);
        }
        response
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.send(self.http.get(self.local(url))).await
    }

    async fn post(&self, url: &str, form: &[(String, String)]) -> reqwest::Response {
        self.send(self.http.post(self.local(url)).form(form)).await
    }

    /// Follow redirects on the issuer; stop at a page or at a redirect
    /// elsewhere. Returns the last URL and response.
    async fn follow(
        &self,
        mut url: String,
        mut response: reqwest::Response,
    ) -> (String, reqwest::Response) {
        for _ in 0..10 {
            if !response.status().is_redirection() {
                break;
            }
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            let next = Url::parse(&url)
                .unwrap()
                .join(&location)
                .unwrap()
                .to_string();
            if !next.starts_with(&self.issuer) {
                return (next, response);
            }
            url = next;
            response = self.get(&url).await;
        }
        (url, response)
    }

    /// Open `url` and sign in as alice on the login page it leads to,
    /// approving consent if asked; the final redirect to the client.
    async fn sign_in(&self, url: &str) -> Url {
        let first = self.get(url).await;
        let (at, page) = self.follow(url.to_owned(), first).await;
        assert_eq!(
            page.status(),
            StatusCode::OK,
            "expected the login page at {at}"
        );
        let body = page.text().await.unwrap();
        let mut form = parse_forms(&Url::parse(&at).unwrap(), &body)
            .into_iter()
            .find(|f| f.has_password)
            .unwrap_or_else(|| panic!("a login form at {at}: {body}"));
        set_field(&mut form, "username", ALICE);
        set_field(&mut form, "password", ALICE_PASSWORD);
        let posted = self.post(&form.action, &form.fields).await;
        let (at, response) = self.follow(form.action.clone(), posted).await;
        if response.status() == StatusCode::OK {
            let body = response.text().await.unwrap();
            let mut consent = parse_forms(&Url::parse(&at).unwrap(), &body)
                .into_iter()
                .next()
                .expect("a consent form");
            consent.fields.push(("decision".into(), "approve".into()));
            let posted = self.post(&consent.action, &consent.fields).await;
            return redirect_target(&consent.action, &posted);
        }
        redirect_target(&at, &response)
    }
}

fn redirect_target(from: &str, response: &reqwest::Response) -> Url {
    assert!(response.status().is_redirection(), "{}", response.status());
    Url::parse(from)
        .unwrap()
        .join(response.headers()["location"].to_str().unwrap())
        .unwrap()
}

/// The attributes of a `Set-Cookie` header, lower-cased, by name.
fn attributes(set_cookie: &str) -> HashMap<String, String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| {
            let (k, v) = a.trim().split_once('=').unwrap_or((a.trim(), ""));
            (k.to_ascii_lowercase(), v.to_ascii_lowercase())
        })
        .collect()
}

/// A server whose issuer is https. Nothing listens at the issuer's address:
/// requests go to the server's own http address, as behind a TLS terminator.
async fn https_server() -> TestServer {
    TestServer::with(|c| c.issuer = Url::parse("https://localhost:9443").unwrap()).await
}

fn first_party_request(server: &TestServer) -> String {
    auth_url(server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE)
}

#[tokio::test]
async fn https_issuer_cookies_are_host_prefixed_secure_and_the_session_one_samesite_none() {
    let server = https_server().await;
    let browser = HandBrowser::new(&server);
    let redirect = browser.sign_in(&first_party_request(&server)).await;
    assert!(redirect.as_str().starts_with(FIRST_REDIRECT), "{redirect}");

    let session = browser.set_cookie_headers("__Host-signoff_session");
    assert_eq!(session.len(), 1, "one session cookie set: {session:?}");
    let a = attributes(&session[0]);
    // RFC 6265bis §4.1.3.2: __Host- needs Secure, Path=/ and no Domain.
    assert!(a.contains_key("secure"), "{}", session[0]);
    assert_eq!(
        a.get("path").map(String::as_str),
        Some("/"),
        "{}",
        session[0]
    );
    assert!(!a.contains_key("domain"), "{}", session[0]);
    assert!(a.contains_key("httponly"), "{}", session[0]);
    assert_eq!(
        a.get("samesite").map(String::as_str),
        Some("none"),
        "{}",
        session[0]
    );

    let binding = browser.set_cookie_headers("__Host-signoff_browser");
    assert_eq!(binding.len(), 1, "{binding:?}");
    let a = attributes(&binding[0]);
    assert!(
        a.contains_key("secure") && !a.contains_key("domain"),
        "{}",
        binding[0]
    );
    assert_eq!(
        a.get("samesite").map(String::as_str),
        Some("lax"),
        "{}",
        binding[0]
    );
    // No unprefixed cookie at all.
    assert!(browser.set_cookie_headers("signoff_session").is_empty());
    assert!(browser.set_cookie_headers("signoff_browser").is_empty());
}

#[tokio::test]
async fn http_issuer_cookies_are_unprefixed_lax_and_not_secure() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    browser.sign_in(&first_party_request(&server)).await;
    let session = browser.set_cookie_headers("signoff_session");
    assert_eq!(session.len(), 1, "{session:?}");
    let a = attributes(&session[0]);
    // SameSite=None needs Secure, which an http origin cannot set.
    assert_eq!(
        a.get("samesite").map(String::as_str),
        Some("lax"),
        "{}",
        session[0]
    );
    assert!(!a.contains_key("secure"), "{}", session[0]);
}

/// Session fixation: a cookie value the browser held before a sign-in must
/// not be the one that is signed in afterwards, even when the same user signs
/// in again (prompt=login) and the session keeps its `sid`.
#[tokio::test]
async fn every_sign_in_replaces_the_session_cookie_and_the_old_value_stops_working() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    let first = browser.sign_in(&first_party_request(&server)).await;
    assert!(query_map(&first).contains_key("code"), "{first}");
    let before = browser.cookie("signoff_session").expect("a session cookie");

    let mut again = Url::parse(&first_party_request(&server)).unwrap();
    again.query_pairs_mut().append_pair("prompt", "login");
    let second = browser.sign_in(again.as_str()).await;
    assert!(query_map(&second).contains_key("code"), "{second}");
    let after = browser.cookie("signoff_session").expect("a session cookie");
    assert_ne!(
        before, after,
        "the session cookie was not renewed at sign-in"
    );

    let mut silent = Url::parse(&first_party_request(&server)).unwrap();
    silent.query_pairs_mut().append_pair("prompt", "none");
    browser.set_cookie("signoff_session", &before);
    let old = redirect_target(silent.as_str(), &browser.get(silent.as_str()).await);
    assert_eq!(
        query_map(&old).get("error").map(String::as_str),
        Some("login_required"),
        "{old}"
    );
    browser.set_cookie("signoff_session", &after);
    let new = redirect_target(silent.as_str(), &browser.get(silent.as_str()).await);
    assert!(query_map(&new).contains_key("code"), "{new}");
}

fn authorize_form(state: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", FIRST),
        ("redirect_uri", FIRST_REDIRECT),
        ("scope", "openid"),
        ("state", state),
        ("nonce", "n-post"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A cross-site form POST to /authorize arrives without a SameSite=Lax
/// session cookie: it is answered with a 303 to the same request as a GET,
/// which the browser sends with its cookies.
#[tokio::test]
async fn post_authorize_without_the_session_cookie_is_repeated_as_a_get() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    browser.sign_in(&first_party_request(&server)).await;
    let session = browser.cookie("signoff_session").unwrap();

    browser.forget("signoff_session");
    let form = authorize_form("st-cross-site");
    let response = browser.post(&server.url("/authorize"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let target = redirect_target(&server.url("/authorize"), &response);
    assert_eq!(target.path(), "/authorize");
    let repeated: HashMap<String, String> = query_map(&target).into_iter().collect();
    let sent: HashMap<String, String> = form.into_iter().collect();
    assert_eq!(repeated, sent, "the GET repeats the POSTed parameters");

    // The browser follows with its (Lax) cookie: signed in, a code at once.
    browser.set_cookie("signoff_session", &session);
    let landing = redirect_target(target.as_str(), &browser.get(target.as_str()).await);
    assert!(landing.as_str().starts_with(FIRST_REDIRECT), "{landing}");
    assert_eq!(query_map(&landing)["state"], "st-cross-site");
    assert!(query_map(&landing).contains_key("code"), "{landing}");

    // A POST that carries the cookie is answered directly.
    let direct = browser
        .post(&server.url("/authorize"), &authorize_form("st-direct"))
        .await;
    let landing = redirect_target(&server.url("/authorize"), &direct);
    assert!(landing.as_str().starts_with(FIRST_REDIRECT), "{landing}");
    assert!(query_map(&landing).contains_key("code"), "{landing}");
}

/// A request that fails validation is not bounced to a GET.
#[tokio::test]
async fn post_authorize_for_an_unknown_client_is_not_repeated() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    let mut form = authorize_form("st");
    form[1].1 = "nobody".into();
    let response = browser.post(&server.url("/authorize"), &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
}

/// Double-submit CSRF under an https issuer: a cookie of the plain name, as a
/// page on a sibling subdomain could plant it, is not the CSRF cookie.
#[tokio::test]
async fn https_csrf_check_ignores_a_planted_unprefixed_cookie() {
    let server = https_server().await;
    let token = "planted-token-planted-token-planted-token";
    let form: Vec<(String, String)> = [
        ("csrf_token", token),
        ("username", ALICE),
        ("password", ALICE_PASSWORD),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let planted = HandBrowser::new(&server);
    planted.set_cookie("signoff_csrf", token);
    let response = planted.post(&server.url("/account/login"), &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(planted.cookie("__Host-signoff_session").is_none());
    assert!(response.text().await.unwrap().contains("Page expired"));

    // The same form with the token in the __Host- cookie signs in.
    let own = HandBrowser::new(&server);
    own.set_cookie("__Host-signoff_csrf", token);
    let response = own.post(&server.url("/account/login"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(own.cookie("__Host-signoff_session").is_some());
}

fn csp(response: &reqwest::Response) -> String {
    response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// CSP 3 `form-action`: the hosted forms post only to Signoff, and where the
/// answer is a redirect to a relying party, to that party's registered URI.
#[tokio::test]
async fn hosted_pages_restrict_form_action_to_themselves_and_the_registered_target() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    let request = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    let first = browser.get(&request).await;
    let (_, login) = browser.follow(request.clone(), first).await;
    assert_eq!(login.status(), StatusCode::OK);
    let login_csp = csp(&login);
    assert!(
        login_csp.contains("form-action 'self' http://127.0.0.1:7001/callback;"),
        "login page: {login_csp}"
    );

    let account = browser.get(&server.url("/account")).await;
    assert!(
        csp(&account).contains("form-action 'self';"),
        "{}",
        csp(&account)
    );

    let error = browser
        .get(&server.url("/authorize?client_id=nobody"))
        .await;
    assert!(
        csp(&error).contains("form-action 'self';"),
        "{}",
        csp(&error)
    );
}

#[tokio::test]
async fn consent_page_allows_its_answer_to_redirect_to_the_client() {
    let server = TestServer::start().await;
    let browser = HandBrowser::new(&server);
    // Sign in through the first-party client, then ask for a third party's
    // consent.
    browser.sign_in(&first_party_request(&server)).await;
    let request = auth_url(&server, APP, APP_REDIRECT, "openid", CHALLENGE);
    let first = browser.get(&request).await;
    let (at, consent) = browser.follow(request.clone(), first).await;
    assert!(at.contains("/consent"), "{at}");
    let consent_csp = csp(&consent);
    assert!(
        consent_csp.contains("form-action 'self' http://127.0.0.1:7001/callback;"),
        "{consent_csp}"
    );
}

#[tokio::test]
async fn https_issuer_sends_strict_transport_security_and_http_does_not() {
    let server = https_server().await;
    for path in [
        "/.well-known/openid-configuration",
        "/account",
        "/no-such-page",
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let plain = TestServer::start().await;
    let response = plain.http.get(plain.url("/account")).send().await.unwrap();
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn logout_confirmation_allows_its_answer_to_redirect_to_the_post_logout_uri() {
    let server = TestServer::start().await;
    server
        .add_client(signoff::admin::ClientSpec {
            id: "rp".into(),
            secret: Some("rp-secret-0123456789".into()),
            redirect_uris: vec!["http://127.0.0.1:7005/cb".into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:7005/bye".into()],
            ..signoff::admin::ClientSpec::default()
        })
        .await;
    let browser = HandBrowser::new(&server);
    browser.sign_in(&first_party_request(&server)).await;
    let mut logout = Url::parse(&server.url("/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("client_id", "rp")
        .append_pair("post_logout_redirect_uri", "http://127.0.0.1:7005/bye");
    let confirm = browser.get(logout.as_str()).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let policy = csp(&confirm);
    assert!(
        policy.contains("form-action 'self' http://127.0.0.1:7005/bye;"),
        "{policy}"
    );
}
