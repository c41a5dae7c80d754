//! Harness of the browser tests: Debian's headless Chromium driven over
//! WebDriver (chromedriver + fantoccini), a TLS terminator that puts an https
//! issuer in front of a test server, and a relying party's site on another
//! origin.
//!
//! Without chromium and chromedriver the tests are skipped with a message;
//! with `SIGNOFF_REQUIRE_BROWSER=1` (set by `.ci/run`) their absence fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use tempfile::TempDir;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use url::Url;

/// The programs the tests drive.
pub struct Tools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Chromium and chromedriver, or `None` (with a message saying why the test
/// is skipped) when either is missing. Panics instead when
/// `SIGNOFF_REQUIRE_BROWSER` is set, so CI cannot pass by skipping.
pub fn tools(test: &str) -> Option<Tools> {
    // SIGNOFF_CHROMIUM / SIGNOFF_CHROMEDRIVER name other binaries.
    let chromium = match std::env::var_os("SIGNOFF_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => on_path("chromium").or_else(|| on_path("chromium-browser")),
    };
    let chromedriver = match std::env::var_os("SIGNOFF_CHROMEDRIVER") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => on_path("chromedriver"),
    };
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(Tools {
            chromium,
            chromedriver,
        }),
        (chromium, chromedriver) => {
            let missing: Vec<&str> = [
                ("chromium", chromium.is_none()),
                ("chromedriver", chromedriver.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect();
            let missing = format!(
                "{} not found (Debian: apt-get install chromium chromium-driver)",
                missing.join(" and ")
            );
            if std::env::var_os("SIGNOFF_REQUIRE_BROWSER").is_some_and(|v| v != "0") {
                panic!("{test}: {missing}, and SIGNOFF_REQUIRE_BROWSER is set");
            }
            // Straight to stderr: the test harness captures eprintln! of a
            // passing test, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{test}: SKIPPED, {missing}");
            None
        }
    }
}

/// One Chromium at a time: the machines have two cores, and several
/// browsers plus servers at once make the timing of every test worse.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How the browser is started.
#[derive(Default, Clone)]
pub struct Options {
    /// Base64 SHA-256 of a test certificate's SubjectPublicKeyInfo that
    /// Chromium should accept (`--ignore-certificate-errors-spki-list`).
    pub trust_spki: Option<String>,
    /// Turn off JavaScript for every page (content setting), to show the
    /// pages need none.
    pub no_javascript: bool,
    /// Viewport width and height in CSS pixels (default 800 × 900).
    pub window: Option<(u32, u32)>,
    /// Prefer a dark colour scheme.
    pub dark: bool,
}

/// Start chromedriver (on a port it picks) and a headless Chromium session,
/// run `test` with it, then always close the session and stop chromedriver,
/// even when `test` panics (the panic is then resumed).
pub async fn with_browser<F, Fut>(tools: &Tools, options: Options, test: F)
where
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let _one = ONE_BROWSER.lock().await;
    let profile = TempDir::new().expect("profile dir");
    let (mut driver, port) = start_chromedriver(&tools.chromedriver).await;
    let client = connect(tools, &options, profile.path(), port).await;
    let (width, height) = options.window.unwrap_or((800, 900));
    set_viewport(&client, width, height).await;
    let outcome = tokio::spawn(test(client.clone())).await;
    let _ = client.close().await;
    let _ = driver.kill();
    let _ = driver.wait();
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("browser test task failed: {e}"),
        }
    }
}

async fn start_chromedriver(path: &Path) -> (Child, u16) {
    let mut child = Command::new(path)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Read its output on a thread of its own, to the end, so that it never
    // blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // "ChromeDriver was started successfully on port 40239."
            if let Some(rest) = line.split("started successfully on port ").nth(1)
                && let (Some(tx), Ok(port)) =
                    (tx.take(), rest.trim_end_matches('.').trim().parse::<u16>())
            {
                let _ = tx.send(port);
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(20), rx).await {
        Ok(Ok(port)) => (child, port),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not report its port within 20 s");
        }
    }
}

async fn connect(tools: &Tools, options: &Options, profile: &Path, port: u16) -> Client {
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.display()),
        // Only loopback: every other host name fails to resolve, so the
        // browser cannot reach beyond this machine whatever a page asks.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1".into(),
    ];
    if let Some(spki) = &options.trust_spki {
        args.push(format!("--ignore-certificate-errors-spki-list={spki}"));
    }
    if options.dark {
        args.push("--blink-settings=preferredColorScheme=0".into());
    } else {
        args.push("--blink-settings=preferredColorScheme=1".into());
    }
    let mut chrome_options = json!({
        "binary": tools.chromium.display().to_string(),
        "args": args,
    });
    if options.no_javascript {
        chrome_options["prefs"] = json!({
            "profile.managed_default_content_settings.javascript": 2
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), chrome_options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("start a Chromium session")
}

/// Make the viewport (not the window) `width` × `height` CSS pixels.
pub async fn set_viewport(client: &Client, width: u32, height: u32) {
    client
        .set_window_size(width, height)
        .await
        .expect("window size");
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .expect("viewport");
    let (iw, ih) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
    if (iw, ih) != (u64::from(width), u64::from(height)) {
        let w = width + (width - iw.min(u64::from(width)) as u32);
        let h = height + (height - ih.min(u64::from(height)) as u32);
        client.set_window_size(w, h).await.expect("window size");
    }
}

/// Where screenshots go: `target/browser-screenshots/` always, and also
/// `docs/screenshots/` (the README's pictures) when
/// `SIGNOFF_UPDATE_SCREENSHOTS=1`.
pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("target/browser-screenshots")];
    if std::env::var_os("SIGNOFF_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        dirs.push(root.join("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
    }
}

/// Wait (up to 10 s) for the page at a URL whose path is `path` to finish
/// loading, and return that URL.
pub async fn wait_for_path(client: &Client, path: &str) -> Url {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.expect("current url");
        let ready = client
            .execute("return document.readyState;", vec![])
            .await
            .map(|v| v == "complete")
            .unwrap_or(false);
        if url.path() == path && ready {
            return url;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("the browser did not reach {path}; it is at {url}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The visible text of the first element matching `css`.
pub async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .text()
        .await
        .expect("text")
}

/// The `id` of the focused element.
pub async fn focused_id(client: &Client) -> String {
    client
        .active_element()
        .await
        .expect("active element")
        .attr("id")
        .await
        .expect("id")
        .unwrap_or_default()
}

pub async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.expect("field");
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

pub async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} to click: {e}"))
        .click()
        .await
        .expect("click");
}

/// Run a script that returns JSON in the page.
pub async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.expect("script")
}

/// A TLS terminator in front of a test server: `https://localhost:PORT`
/// forwards each connection's bytes to `backend`, as a reverse proxy in
/// front of Signoff does in production. Its certificate is self-signed for
/// `localhost`; `spki` is what Chromium is told to trust.
pub struct TlsFront {
    pub port: u16,
    pub spki: String,
    listener: Option<TcpListener>,
    acceptor: TlsAcceptor,
}

impl TlsFront {
    /// Bind the terminator (so the issuer's port is known before the server
    /// starts).
    pub async fn bind() -> Self {
        let (cert, key, spki) = self_signed_localhost();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("TLS config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TLS");
        TlsFront {
            port: listener.local_addr().unwrap().port(),
            spki,
            listener: Some(listener),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    pub fn issuer(&self) -> Url {
        Url::parse(&format!("https://localhost:{}", self.port)).unwrap()
    }

    /// Forward every connection to `backend` (`127.0.0.1:PORT`) from now on.
    pub fn forward_to(&mut self, backend: String) {
        let listener = self.listener.take().expect("forwarding already");
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let backend = backend.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(&backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    }
}

/// A P-256 key and a self-signed certificate for `localhost` (SAN), and the
/// base64 SHA-256 of the key's SubjectPublicKeyInfo.
fn self_signed_localhost() -> (CertificateDer<'static>, PrivateKeyDer<'static>, String) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&builder.x509v3_context(None, None))
        .unwrap();
    builder.append_extension(san).unwrap();
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = builder.build();
    let spki_der = key.public_key_to_der().unwrap();
    let spki = base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(&spki_der));
    (
        CertificateDer::from(cert.to_der().unwrap()),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.private_key_to_pkcs8().unwrap(),
        )),
        spki,
    )
}

/// What the RP's `/start` page POSTs: the action and the fields.
type StartForm = (String, Vec<(String, String)>);

/// A relying party's web site: its callback, its front-channel logout URI,
/// its post-logout landing page, and a page whose form POSTs an
/// authorization request to the OP (the cross-site `form_post`-style
/// request). Every request it receives is recorded.
#[derive(Clone)]
pub struct RpSite {
    pub origin: String,
    hits: Arc<Mutex<Vec<Url>>>,
    destinations: Arc<Mutex<Vec<(String, String)>>>,
    form: Arc<Mutex<Option<StartForm>>>,
}

impl RpSite {
    /// Serve on `host` (`127.0.0.1` or `localhost`), port chosen by the OS.
    pub async fn start(host: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind RP");
        let port = listener.local_addr().unwrap().port();
        let site = RpSite {
            origin: format!("http://{host}:{port}"),
            hits: Arc::default(),
            destinations: Arc::default(),
            form: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/start", get(start_page))
            .route("/callback", get(landing))
            .route("/frontchannel", get(landing))
            .route("/signed-out", get(landing))
            .with_state(site.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        site
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// What `/start` shows: a form POSTing `fields` to `action`.
    pub fn post_form(&self, action: &str, fields: &[(&str, &str)]) {
        *self.form.lock().unwrap() = Some((
            action.to_owned(),
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }

    /// The requests received for `path`, oldest first.
    pub fn hits(&self, path: &str) -> Vec<Url> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u.path() == path)
            .cloned()
            .collect()
    }

    /// The `Sec-Fetch-Dest` of each request for `path` (`iframe` for a
    /// front-channel logout frame, `document` for a page).
    pub fn destinations(&self, path: &str) -> Vec<String> {
        self.destinations
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// Wait (up to 10 s) until `path` was requested `n` times.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Url> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let hits = self.hits(path);
            if hits.len() >= n {
                return hits;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{path} was requested {} times, expected {n}", hits.len());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn start_page(State(site): State<RpSite>) -> Html<String> {
    let (action, fields) = site.form.lock().unwrap().clone().unwrap_or_default();
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>RP</title><h1>Example application</h1>\
         <form method=\"post\" action=\"{}\">{inputs}\
         <button id=\"continue\" type=\"submit\">Sign in with Signoff</button></form>",
        escape(&action)
    ))
}

async fn landing(
    State(site): State<RpSite>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Html<String> {
    let url = Url::parse(&format!("{}{}", site.origin, uri)).expect("request URL");
    // Fetch Metadata: how the browser loaded this (document, iframe, …).
    let dest = headers
        .get("sec-fetch-dest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    site.destinations
        .lock()
        .unwrap()
        .push((url.path().to_owned(), dest));
    let title = match url.path() {
        "/callback" => "Signed in at the application",
        "/signed-out" => "Signed out of the application",
        _ => "Front-channel logout received",
    };
    site.hits.lock().unwrap().push(url);
    Html(format!(
        "<!doctype html><title>{title}</title><h1>{title}</h1>\
         <noscript><p id=\"noscript\">JavaScript is off</p></noscript>"
    ))
}

/// Press Tab once, wherever the focus is.
pub async fn press_tab(client: &Client) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    use fantoccini::key::Key;
    let tab: char = Key::Tab.into();
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: tab })
        .then(KeyAction::Up { value: tab });
    client.perform_actions(keys).await.expect("press Tab");
}

/// Shared by the audits: colours, relative luminance and contrast ratio
/// (WCAG 2.2, "contrast ratio" and "relative luminance" definitions), and the
/// opaque background behind an element.
const COLOUR_JS: &str = r#"
const rgba = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
const background = el => { const layers = [];
  for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
  let base = matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18] : [255, 255, 255];
  for (const c of layers.reverse()) base = base.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
  return base; };
"#;

/// What a page fails of the checks a browser can make, as sentences: a
/// horizontal scrollbar (WCAG 1.4.10 at 320 px), a script element, a form
/// control without a label or a button without a name (1.3.1, 4.1.2), text
/// below 4.5:1 (3:1 when large) against its background (1.4.3), and input or
/// secondary-button borders below 3:1 (1.4.11).
pub async fn accessibility_problems(client: &Client) -> Vec<String> {
    let script = format!(
        r#"{COLOUR_JS}
const problems = [];
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) problems.push(`horizontal scrolling: ${{doc.scrollWidth}}px wide in ${{window.innerWidth}}px`);
if (document.scripts.length) problems.push(`${{document.scripts.length}} script element(s)`);
if (!doc.lang) problems.push('no lang attribute');
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push(`input ${{el.name}} has no label`);
for (const b of document.querySelectorAll('button')) if (!b.textContent.trim()) problems.push('a button has no text');
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {{
  const node = walker.currentNode; const words = node.textContent.trim(); if (!words) continue;
  const el = node.parentElement; if (!el.getClientRects().length) continue;
  const cs = getComputedStyle(el); if (cs.visibility === 'hidden') continue;
  const size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
  const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  const r = ratio(rgba(cs.color), background(el));
  if (r < need) problems.push(`contrast ${{r.toFixed(2)}}:1 < ${{need}}:1 for "${{words.slice(0, 40)}}"`);
}}
for (const el of document.querySelectorAll('input:not([type=hidden]), button.secondary')) {{
  const r = ratio(rgba(getComputedStyle(el).borderTopColor), background(el.parentElement));
  if (r < 3) problems.push(`border contrast ${{r.toFixed(2)}}:1 < 3:1 for ${{el.tagName}} ${{el.name || el.textContent.trim()}}`);
}}
return problems;"#
    );
    let found = js(client, &script).await;
    found
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Tab through the page and return, for each focusable element that gets
/// no visible focus indicator (an outline of at least 2 px at 3:1 against
/// the background, WCAG 2.4.7 and 1.4.11), or that Tab never reaches
/// (2.1.1), a sentence.
pub async fn focus_problems(client: &Client) -> Vec<String> {
    const FOCUSABLE: &str = "a[href], button, input:not([type=hidden])";
    let count = js(
        client,
        &format!("return document.querySelectorAll('{FOCUSABLE}').length;"),
    )
    .await
    .as_u64()
    .expect("a count") as usize;
    let check = format!(
        r#"{COLOUR_JS}
const all = [...document.querySelectorAll('{FOCUSABLE}')];
const el = document.activeElement;
const index = all.indexOf(el);
if (index < 0) return [index, ''];
const cs = getComputedStyle(el);
const name = `${{el.tagName.toLowerCase()}} ${{el.id || el.name || el.textContent.trim().slice(0, 30)}}`;
if (cs.outlineStyle === 'none' || parseFloat(cs.outlineWidth) < 2) return [index, `${{name}}: no focus outline`];
const r = ratio(rgba(cs.outlineColor), background(el.parentElement));
if (r < 3) return [index, `${{name}}: focus outline contrast ${{r.toFixed(2)}}:1`];
return [index, ''];"#
    );
    let mut problems = Vec::new();
    let mut reached = vec![false; count];
    // Twice round: where the focus starts (autofocus) depends on the page.
    for _ in 0..(2 * count + 2) {
        press_tab(client).await;
        let found = js(client, &check).await;
        let index = found[0].as_i64().unwrap_or(-1);
        if let Ok(i) = usize::try_from(index)
            && i < count
        {
            reached[i] = true;
        }
        if let Some(p) = found[1].as_str().filter(|p| !p.is_empty())
            && !problems.iter().any(|q| q == p)
        {
            problems.push(p.to_owned());
        }
    }
    for (i, r) in reached.iter().enumerate() {
        if !r {
            problems.push(format!("focusable element #{i} is never reached by Tab"));
        }
    }
    problems
}
