//! The operator's command line against a running server's database: each
//! change observed over HTTP; the audit trail after sign-ins over HTTP;
//! `config check` and `backup`.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;
use crate::lifecycle::{assert_becomes_inactive, lifecycle_server, opaque_login, refresh_fails};

/// Run the binary on `server`'s database with `stdin`; the output, whatever
/// the exit status.
pub async fn run(server: &TestServer, args: &[&str], stdin: &str) -> Output {
    let mut command = clean_command(args);
    command
        .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
        .env("SIGNOFF_MASTER_KEY", TEST_MASTER_KEY);
    with_stdin(command, stdin).await
}

/// The binary with no SIGNOFF_* variable of the caller's.
fn clean_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signoff"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SIGNOFF_") {
            command.env_remove(key);
        }
    }
    command.args(args);
    command
}

async fn with_stdin(mut command: Command, stdin: &str) -> Output {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run signoff");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("signoff output")
    })
    .await
    .unwrap()
}

/// Run, expect success, return stdout.
pub async fn ok(server: &TestServer, args: &[&str], stdin: &str) -> String {
    let output = run(server, args, stdin).await;
    assert!(
        output.status.success(),
        "signoff {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_disabled_client_gets_invalid_client_and_works_again_once_enabled() {
    let server = TestServer::start().await;
    ok(&server, &["client", "disable", SERVICE], "").await;
    // The server learns of the change through the revocation log.
    server.caught_up().await;
    let refused = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_oauth_error(refused, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let shown: Value =
        serde_json::from_str(&ok(&server, &["client", "show", SERVICE, "--json"], "").await)
            .unwrap();
    assert_eq!(shown["disabled"], true, "{shown}");
    ok(&server, &["client", "enable", SERVICE], "").await;
    server.caught_up().await;
    assert!(service_token(&server).await["access_token"].is_string());
}

#[tokio::test]
async fn a_rotated_secret_replaces_the_old_one_within_the_propagation_bound() {
    let server = TestServer::start().await;
    // Verified once: the server remembers the old secret passed.
    service_token(&server).await;
    let out = ok(&server, &["client", "rotate-secret", SERVICE], "").await;
    let new_secret = out.trim();
    assert!(new_secret.len() >= 32, "{out}");
    server.caught_up().await;
    let old = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_oauth_error(old, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let new = server
        .token_request(SERVICE, new_secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(new.status(), StatusCode::OK);

    // A chosen secret from stdin, never printed.
    let chosen = "chosen-secret-from-stdin-42";
    let out = ok(
        &server,
        &["client", "rotate-secret", SERVICE, "--secret-stdin"],
        &format!("{chosen}\n"),
    )
    .await;
    assert!(!out.contains(chosen), "{out}");
    server.caught_up().await;
    let new = server
        .token_request(SERVICE, chosen, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_update_changes_what_the_token_endpoint_allows() {
    let server = TestServer::start().await;
    ok(
        &server,
        &[
            "client",
            "update",
            SERVICE,
            "--scope",
            "api.read",
            "--access-token-ttl",
            "90s",
        ],
        "",
    )
    .await;
    server.caught_up().await;
    let refused = server
        .token_request(
            SERVICE,
            SERVICE_SECRET,
            &[("grant_type", "client_credentials"), ("scope", "api.write")],
        )
        .await;
    assert_oauth_error(refused, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let issued = service_token(&server).await;
    assert_eq!(issued["expires_in"], 90, "{issued}");
    let shown = ok(&server, &["client", "show", SERVICE], "").await;
    assert!(shown.contains("scope: api.read\n"), "{shown}");

    let bad = run(
        &server,
        &[
            "client",
            "update",
            SERVICE,
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        "",
    )
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("loopback"));
}

#[tokio::test]
async fn set_password_ends_sessions_and_tokens_and_the_new_password_signs_in() {
    let server = lifecycle_server().await;
    let login = opaque_login(&server).await;
    let new_password = "a brand new password";
    let out = ok(
        &server,
        &["user", "set-password", ALICE, "--password-stdin"],
        &format!("{new_password}\n"),
    )
    .await;
    assert!(out.contains("(1)"), "one session ended: {out}");
    assert_becomes_inactive(&server, &login.access_token()).await;
    refresh_fails(&server, FIRST, FIRST_SECRET, &login.refresh_token()).await;
    // The browser's SSO session is gone: the login page again.
    let url = auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE);
    let (at, again) = login.browser.go(&server, &url).await;
    let Landing::Page { body, .. } = &again else {
        panic!("expected the login page: {again:?}");
    };
    assert!(
        parse_forms(&at, body).iter().any(|f| f.has_password),
        "{body}"
    );
    let browser = server.browser();
    let landing = browser.authorize(&server, &url, ALICE, new_password).await;
    assert!(landing.param("code").is_some(), "new password: {landing:?}");
    let user: Value =
        serde_json::from_str(&ok(&server, &["user", "show", ALICE, "--json"], "").await).unwrap();
    assert_eq!(user["username"], ALICE);
    assert!(user.get("password_hash").is_none(), "{user}");
}

#[tokio::test]
async fn audit_list_shows_sign_ins_over_http_without_typed_unknown_names() {
    let server = TestServer::start().await;
    let url = auth_url(&server, FIRST, FIRST_REDIRECT, "openid", CHALLENGE);
    let browser = server.browser();
    // One attempt each: wrong password, a pasted password as the name, right.
    let pasted = "Hunter2-pasted-in-the-username-field";
    let mut landing = browser.go(&server, &url).await;
    for (name, password) in [
        (ALICE, "not the password"),
        (pasted, "whatever"),
        (ALICE, ALICE_PASSWORD),
    ] {
        let (at, Landing::Page { body, .. }) = &landing else {
            panic!("expected the login page: {landing:?}");
        };
        landing = browser.login(&server, at, body, name, password).await;
    }
    assert!(landing.1.param("code").is_some(), "{:?}", landing.1);

    let out = ok(&server, &["audit", "list", "--user", ALICE, "--json"], "").await;
    let events: Vec<Value> = serde_json::from_str(&out).unwrap();
    let sign_ins: Vec<&str> = events
        .iter()
        .filter(|e| e["action"] == "sign_in")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(sign_ins, ["success", "failure"], "{out}");
    let failure = events.iter().find(|e| e["outcome"] == "failure").unwrap();
    assert_eq!(failure["address"], "127.0.0.1", "{failure}");
    assert_eq!(failure["username"], ALICE, "{failure}");

    let all = ok(&server, &["audit", "list", "--since", "1h"], "").await;
    assert!(all.contains("unknown username"), "{all}");
    assert!(
        !all.contains(pasted),
        "a typed unknown name is not stored: {all}"
    );
    assert!(!all.contains("not the password"), "{all}");
}

#[tokio::test]
async fn admin_commands_print_their_result_not_startup_logs() {
    let server = TestServer::start().await;
    let mut command = clean_command(&["user", "list"]);
    command
        .env("SIGNOFF_DATABASE_URL", &server.state.config.database_url)
        .env("SIGNOFF_LOG", "info");
    let output = with_stdin(command, "").await;
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains(ALICE));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("igration"), "{stderr}");
}

#[test]
fn config_check_prints_effective_settings_redacted_and_refuses_a_bad_file() {
    let dir = tempfile::TempDir::new().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "database_url = \"postgres://signoff:hunter2@db.internal/signoff\"\nlog_format = \"json\"\n\n[audit]\nretention = \"30d\"\n",
    )
    .unwrap();
    let mut command = clean_command(&["config", "check", "--config", good.to_str().unwrap()]);
    command.env("SIGNOFF_MASTER_KEY", TEST_MASTER_KEY);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let settings: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(settings["log_format"], "json");
    assert_eq!(settings["audit"]["retention"], "30days");
    assert_eq!(settings["keys"]["master_key"], "REDACTED");
    assert!(
        !stdout.contains("hunter2") && !stdout.contains(TEST_MASTER_KEY),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[tokens]\naccess_token_ttl = \"0s\"\n").unwrap();
    let output = clean_command(&["config", "check", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tokens.access_token_ttl"), "{stderr}");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "log_fromat = \"json\"\n").unwrap();
    let output = clean_command(&["config", "check", "--config", unknown.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("log_fromat"));
}

/// A `serve` process on `database_url` logging JSON; its stderr lines are
/// sent to the returned channel.
struct Served {
    child: std::process::Child,
    base: String,
    lines: std::sync::mpsc::Receiver<String>,
    /// Lines logged before the child listened (searched too).
    startup: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(database_url: &str) -> Served {
    serve_with(database_url, &[]).await
}

async fn serve_with(database_url: &str, env: &[(&str, &str)]) -> Served {
    // A port picked by binding :0 and dropping the listener can be taken by
    // another test before the child binds it; the child then exits. Retry
    // with a new port, and trust the address only once the child itself
    // says it listens there (so a probe never reaches another test's server).
    for _ in 0..5 {
        if let Some(served) = try_serve(database_url, env) {
            return served;
        }
    }
    panic!("signoff serve did not start on any of 5 ports");
}

fn try_serve(database_url: &str, env: &[(&str, &str)]) -> Option<Served> {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut command = clean_command(&["serve"]);
    command
        .env("SIGNOFF_DATABASE_URL", database_url)
        .env("SIGNOFF_MASTER_KEY", TEST_MASTER_KEY)
        .env("SIGNOFF_ISSUER", &base)
        .env("SIGNOFF_BIND", format!("127.0.0.1:{port}"))
        .env("SIGNOFF_LOG", "info")
        .env("SIGNOFF_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start signoff serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut startup = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let listening = line.contains("signoff is listening");
                startup.push(line);
                if listening {
                    break;
                }
            }
            // The stream ends when the child exits: most likely the port was
            // taken. Any other start-up failure fails all five attempts.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                eprintln!("serve on port {port} exited at start: {startup:#?}");
                return None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("serve did not come up: {startup:#?}");
            }
        }
    }
    Some(Served {
        child,
        base,
        lines,
        startup,
    })
}

impl Served {
    /// Lines until one satisfies `done` (or a deadline passes).
    fn lines_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = self.startup.clone();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let last = done(&line);
                    seen.push(line);
                    if last {
                        return seen;
                    }
                }
                Err(_) => panic!("no such log line in {seen:#?}"),
            }
        }
    }
}

#[tokio::test]
async fn json_logs_have_one_access_line_per_request_and_no_secrets() {
    let server = TestServer::start().await;
    let served = serve(&server.state.config.database_url).await;
    let http = http_client();
    let token = http
        .post(format!("{}/token", served.base))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .header("x-request-id", "req-json-1")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(token.headers()["x-request-id"], "req-json-1");
    let access_token = token.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let authorize = format!(
        "{}/authorize?response_type=code&client_id={APP}&redirect_uri={}&scope=openid&state=secret-state-77&nonce=secret-nonce-88",
        served.base,
        urlencode(APP_REDIRECT)
    );
    http.get(&authorize)
        .header("x-request-id", "req-json-2")
        .send()
        .await
        .unwrap();
    let lines = served.lines_until(|l| l.contains("req-json-2") && l.contains("latency_ms"));
    let mut access = Vec::new();
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for secret in [
            SERVICE_SECRET,
            &access_token,
            "secret-state-77",
            "secret-nonce-88",
        ] {
            assert!(!line.contains(secret), "secret {secret} logged: {line}");
        }
        if parsed["target"] == "access" {
            access.push(parsed);
        }
    }
    let token_line = access
        .iter()
        .find(|l| l["request_id"] == "req-json-1")
        .unwrap_or_else(|| panic!("no access line for /token: {lines:#?}"));
    assert_eq!(token_line["route"], "/token", "{token_line}");
    assert_eq!(token_line["method"], "POST", "{token_line}");
    assert_eq!(token_line["status"], 200, "{token_line}");
    assert_eq!(token_line["client_id"], SERVICE, "{token_line}");
    assert!(token_line["latency_ms"].is_number(), "{token_line}");
    let authorize_line = access
        .iter()
        .find(|l| l["request_id"] == "req-json-2")
        .unwrap();
    assert_eq!(authorize_line["route"], "/authorize", "{authorize_line}");
    assert!(
        !lines.iter().any(|l| l.contains('\u{1b}')),
        "no colour codes in a pipe"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_backup_is_a_database_serve_starts_from() {
    let server = TestServer::start().await;
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("backup.db");
    let output = run(&server, &["backup", file.to_str().unwrap()], "").await;
    if !server.state.config.database_url.starts_with("sqlite") {
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump"));
        return;
    }
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Again onto the same file: refused, the first copy kept.
    let again = run(&server, &["backup", file.to_str().unwrap()], "").await;
    assert!(!again.status.success());

    let restored = serve(&format!("sqlite://{}?mode=rw", file.display())).await;
    let token = http_client()
        .post(format!("{}/token", restored.base))
        .basic_auth(SERVICE, Some(SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK, "the copy holds the clients");
}

/// A counter's value in a Prometheus text exposition (0 when absent).
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_on_their_own_listener_count_requests_tokens_and_failed_sign_ins() {
    let server = TestServer::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let metrics_bind = format!("127.0.0.1:{port}");
    let served = serve_with(
        &server.state.config.database_url,
        &[("SIGNOFF_METRICS_BIND", &metrics_bind)],
    )
    .await;
    let http = http_client();
    let scrape = || async {
        let response = http_client()
            .get(format!("http://{metrics_bind}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    };
    // Not on the public listener.
    let public = http
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    let before = scrape().await;
    let tokens = r#"signoff_tokens_issued_total{grant_type="client_credentials",format="opaque"}"#;
    let requests = r#"signoff_http_requests_total{method="POST",route="/token",status="200"}"#;
    let refused = r#"signoff_client_auth_refused_total{outcome="failure"}"#;
    for _ in 0..2 {
        let ok = http
            .post(format!("{}/token", served.base))
            .basic_auth(SERVICE, Some(SERVICE_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let bad = http
        .post(format!("{}/token", served.base))
        .basic_auth(SERVICE, Some("wrong-secret-123"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let after = scrape().await;
    assert_eq!(
        sample(&after, tokens) - sample(&before, tokens),
        2.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, requests) - sample(&before, requests),
        2.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, refused) - sample(&before, refused),
        1.0,
        "{after}"
    );
    assert!(
        after.contains("signoff_http_request_duration_seconds_bucket{"),
        "{after}"
    );
    assert!(after.contains("signoff_revocation_lag_events 0"), "{after}");
    assert!(after.contains("signoff_argon2_busy"), "{after}");
    assert!(after.contains("signoff_db_pool_connections"), "{after}");
}

#[tokio::test]
async fn every_list_prints_a_json_array_with_json() {
    let server = TestServer::start().await;
    ok(&server, &["client", "disable", SERVICE], "").await;
    for (args, expect) in [
        (&["client", "list", "--json"][..], SERVICE),
        (&["user", "list", "--json"][..], ALICE),
        (&["keys", "list", "--json"][..], "RS256"),
        (&["session", "list", "--json"][..], ""),
        (&["logout-deliveries", "list", "--json"][..], ""),
        (&["audit", "list", "--json"][..], "client_disabled"),
    ] {
        let out = ok(&server, args, "").await;
        let list: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
        assert!(list.is_array(), "{args:?}: {out}");
        assert!(out.contains(expect), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn audit_events_past_the_retention_are_pruned_and_newer_ones_kept() {
    use signoff::clock::Clock;
    use signoff::store::audit::{NewAuditEvent, append};
    let server = TestServer::start().await;
    let now = server.clock.now();
    let day = 24 * 3600;
    for (age_days, action) in [(100, "old_one"), (91, "old_two"), (89, "recent")] {
        let event = NewAuditEvent {
            time: now - age_days * day,
            actor: "admin".into(),
            action: action.into(),
            outcome: "success".into(),
            ..NewAuditEvent::default()
        };
        append(&server.state.db, event).await.unwrap();
    }
    let retention = server.state.config.audit.retention;
    assert_eq!(retention, Duration::from_secs(90 * day as u64));
    let pruned = signoff::audit::prune(&server.state.db, now, retention)
        .await
        .unwrap();
    assert_eq!(pruned, 2);
    let out = ok(&server, &["audit", "list"], "").await;
    assert!(out.contains("recent") && !out.contains("old_"), "{out}");
}
