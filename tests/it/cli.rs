//! The `signoff` command line, run as the real binary against a temporary
//! SQLite database: what an operator types and what they see.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

/// One database, and the binary pointed at it.
struct Signoff {
    dir: TempDir,
}

impl Signoff {
    fn new() -> Self {
        Signoff {
            dir: TempDir::new().expect("temp dir"),
        }
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}/signoff.db?mode=rwc", self.dir.path().display())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_signoff"));
        // Only the settings of this test, whatever the caller's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SIGNOFF_") {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("SIGNOFF_DATABASE_URL", self.database_url())
            .env("SIGNOFF_LOG", "warn")
            // Signing keys are sealed at rest; any 32 bytes will do here.
            .env("SIGNOFF_MASTER_KEY", MASTER_KEY);
        command
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str, extra_env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(extra_env.iter().copied());
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
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "", &[])
    }

    /// Run, expect success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_success(&output, args);
        String::from_utf8(output.stdout).unwrap()
    }
}

fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "signoff {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Expect a non-zero exit and return stderr.
fn assert_failure(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

const SECRET: &str = "a-long-client-secret-123";
const MASTER_KEY: &str = "Y2xpLXRlc3QtbWFzdGVyLWtleS0zMi1ieXRlcyEhISE=";

#[test]
fn migrate_succeeds_on_a_fresh_database_and_again() {
    let cli = Signoff::new();
    let first = cli.ok(&["migrate"]);
    assert!(first.contains("up to date"), "{first}");
    cli.ok(&["migrate"]);
}

#[test]
fn client_add_list_remove() {
    let cli = Signoff::new();
    let out = cli.ok(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ]);
    assert!(
        out.contains("webapp") && out.contains("confidential"),
        "{out}"
    );
    let out = cli.ok(&[
        "client",
        "add",
        "--id",
        "native",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9000/callback",
    ]);
    assert!(out.contains("native") && out.contains("public"), "{out}");

    let list = cli.ok(&["client", "list"]);
    let webapp = list
        .lines()
        .find(|l| l.starts_with("webapp"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(webapp.contains("confidential"), "{webapp}");
    assert!(
        webapp.contains("https://webapp.example.com/callback"),
        "{webapp}"
    );
    let native = list
        .lines()
        .find(|l| l.starts_with("native"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(native.contains("public"), "{native}");
    assert!(!list.contains(SECRET), "the secret is never shown: {list}");

    let out = cli.ok(&["client", "remove", "webapp"]);
    assert!(out.contains("webapp"), "{out}");
    let list = cli.ok(&["client", "list"]);
    assert!(!list.contains("webapp"), "{list}");
    assert!(list.contains("native"), "{list}");
}

/// RFC 6749 §3.3: a registered scope is made of scope tokens; one with a
/// quote is refused, not stored as given.
#[test]
fn client_add_refuses_a_scope_outside_rfc6749() {
    let cli = Signoff::new();
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "https://webapp.example.com/callback",
        "--scope",
        "openid",
        "--scope",
        "files\"read",
    ]);
    let err = assert_failure(&output);
    assert!(err.contains("RFC 6749 §3.3"), "{err}");
    let list = cli.ok(&["client", "list"]);
    assert!(!list.contains("webapp"), "{list}");
}

#[test]
fn client_secret_is_not_stored_in_plain_text() {
    let cli = Signoff::new();
    cli.ok(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ]);
    let bytes = std::fs::read(cli.dir.path().join("signoff.db")).unwrap();
    let needle = SECRET.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the database holds the secret in plain text"
    );
}

#[test]
fn client_add_refuses_plain_http_off_loopback() {
    let cli = Signoff::new();
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "http://webapp.example.com/callback",
    ]);
    let stderr = assert_failure(&output);
    assert!(
        stderr.contains("http://webapp.example.com/callback"),
        "{stderr}"
    );
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!cli.ok(&["client", "list"]).contains("webapp"));
}

#[test]
fn client_add_refuses_a_redirect_uri_with_a_fragment() {
    let cli = Signoff::new();
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "https://webapp.example.com/callback#section",
    ]);
    let stderr = assert_failure(&output);
    assert!(stderr.contains("fragment"), "{stderr}");
    assert!(!cli.ok(&["client", "list"]).contains("webapp"));
}

#[test]
fn client_add_refuses_a_relative_redirect_uri() {
    let cli = Signoff::new();
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--public",
        "--redirect-uri",
        "/callback",
    ]);
    let stderr = assert_failure(&output);
    assert!(stderr.contains("absolute"), "{stderr}");
}

#[test]
fn client_add_needs_secret_or_public() {
    let cli = Signoff::new();
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ]);
    let stderr = assert_failure(&output);
    assert!(
        stderr.contains("--secret") && stderr.contains("--public"),
        "{stderr}"
    );
}

#[test]
fn client_add_refuses_a_duplicate_id() {
    let cli = Signoff::new();
    let args = [
        "client",
        "add",
        "--id",
        "webapp",
        "--public",
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ];
    cli.ok(&args);
    let stderr = assert_failure(&cli.run(&args));
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn client_remove_of_an_unknown_client_fails() {
    let cli = Signoff::new();
    let stderr = assert_failure(&cli.run(&["client", "remove", "ghost"]));
    assert!(stderr.contains("ghost"), "{stderr}");
}

#[test]
fn user_add_list_disable() {
    let cli = Signoff::new();
    let password = "a fine long password";
    let output = cli.run_with_stdin(
        &[
            "user",
            "add",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        &format!("{password}\n"),
        &[],
    );
    assert_success(&output, &["user", "add"]);
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(out.contains("bob"), "{out}");
    assert!(!out.contains(password), "{out}");

    let list = cli.ok(&["user", "list"]);
    let bob = list
        .lines()
        .find(|l| l.starts_with("bob"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(bob.contains("bob@example.com"), "{bob}");
    assert!(bob.contains("active"), "{bob}");

    cli.ok(&["user", "disable", "bob"]);
    let list = cli.ok(&["user", "list"]);
    let bob = list.lines().find(|l| l.starts_with("bob")).unwrap();
    assert!(bob.contains("disabled"), "{bob}");
}

#[test]
fn user_add_refuses_a_short_password() {
    let cli = Signoff::new();
    let output = cli.run_with_stdin(
        &["user", "add", "--username", "bob", "--password-stdin"],
        "short\n",
        &[],
    );
    let stderr = assert_failure(&output);
    assert!(stderr.contains("at least 8"), "{stderr}");
    assert!(!cli.ok(&["user", "list"]).contains("bob"));
}

#[test]
fn user_add_requires_password_stdin() {
    let cli = Signoff::new();
    let stderr = assert_failure(&cli.run(&["user", "add", "--username", "bob"]));
    assert!(stderr.contains("--password-stdin"), "{stderr}");
}

#[test]
fn user_disable_of_an_unknown_user_fails() {
    let cli = Signoff::new();
    let stderr = assert_failure(&cli.run(&["user", "disable", "ghost"]));
    assert!(stderr.contains("ghost"), "{stderr}");
}

fn add_bob(cli: &Signoff) {
    let output = cli.run_with_stdin(
        &["user", "add", "--username", "bob", "--password-stdin"],
        "a fine long password\n",
        &[],
    );
    assert_success(&output, &["user", "add"]);
}

#[test]
fn user_disable_and_enable_refuse_what_is_already_so() {
    let cli = Signoff::new();
    add_bob(&cli);
    let stderr = assert_failure(&cli.run(&["user", "enable", "bob"]));
    assert!(stderr.contains("not disabled"), "{stderr}");
    let out = cli.ok(&["user", "disable", "bob"]);
    assert!(out.contains("0 sessions ended"), "{out}");
    let stderr = assert_failure(&cli.run(&["user", "disable", "bob"]));
    assert!(stderr.contains("disabled already"), "{stderr}");
    let out = cli.ok(&["user", "enable", "bob"]);
    assert!(out.contains("stay void"), "{out}");
    let bob = cli.ok(&["user", "list"]);
    assert!(bob.contains("active"), "{bob}");
    let stderr = assert_failure(&cli.run(&["user", "enable", "ghost"]));
    assert!(stderr.contains("no user ghost"), "{stderr}");
}

#[test]
fn logout_everywhere_of_an_unknown_user_fails() {
    let cli = Signoff::new();
    let stderr = assert_failure(&cli.run(&["user", "logout-everywhere", "ghost"]));
    assert!(stderr.contains("no user ghost"), "{stderr}");
    add_bob(&cli);
    let out = cli.ok(&["user", "logout-everywhere", "bob"]);
    assert!(out.contains("void"), "{out}");
}

#[test]
fn client_disable_enable_and_revoke_tokens_refuse_what_does_not_apply() {
    let cli = Signoff::new();
    cli.ok(&[
        "client",
        "add",
        "--id",
        "webapp",
        "--secret",
        SECRET,
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ]);
    let stderr = assert_failure(&cli.run(&["client", "enable", "webapp"]));
    assert!(stderr.contains("no disabled client webapp"), "{stderr}");
    cli.ok(&["client", "disable", "webapp"]);
    let stderr = assert_failure(&cli.run(&["client", "disable", "webapp"]));
    assert!(stderr.contains("no enabled client webapp"), "{stderr}");
    cli.ok(&["client", "enable", "webapp"]);
    cli.ok(&["client", "revoke-tokens", "webapp"]);
    for command in ["disable", "enable", "revoke-tokens"] {
        let stderr = assert_failure(&cli.run(&["client", command, "ghost"]));
        assert!(stderr.contains("ghost"), "{command}: {stderr}");
    }
}

/// (kid, alg) of every key `keys list` shows.
fn listed_keys(cli: &Signoff) -> Vec<(String, String)> {
    cli.ok(&["keys", "list"])
        .lines()
        .filter_map(|l| {
            let mut fields = l.split('\t');
            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn keys_rotate_and_list() {
    let cli = Signoff::new();
    let rotated = cli.ok(&["keys", "rotate"]);
    let first = listed_keys(&cli);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(first.iter().any(|(_, a)| a == alg), "{alg}: {first:?}");
        // The rotation names the key that takes over, and it is listed.
        let line = rotated
            .lines()
            .find(|l| l.starts_with(alg))
            .unwrap_or_else(|| panic!("{alg} not rotated: {rotated}"));
        assert!(
            first
                .iter()
                .any(|(kid, a)| a == alg && line.contains(kid.as_str())),
            "{line} names no listed {alg} key: {first:?}"
        );
    }
    // Rotating again is safe: no listed key disappears (tokens they signed
    // must still verify).
    cli.ok(&["keys", "rotate"]);
    let second = listed_keys(&cli);
    for key in &first {
        assert!(second.contains(key), "{key:?} disappeared: {second:?}");
    }
}

#[test]
fn non_https_issuer_is_refused_at_start() {
    let cli = Signoff::new();
    let output = cli.run_with_stdin(
        &["migrate"],
        "",
        &[("SIGNOFF_ISSUER", "http://example.com")],
    );
    let stderr = assert_failure(&output);
    assert!(stderr.contains("http://example.com"), "{stderr}");
    assert!(stderr.contains("must be https"), "{stderr}");
}

#[test]
fn unknown_setting_is_refused() {
    let cli = Signoff::new();
    let output = cli.run_with_stdin(&["migrate"], "", &[("SIGNOFF_ISUER", "https://x.example")]);
    let stderr = assert_failure(&output);
    assert!(stderr.to_lowercase().contains("isuer"), "{stderr}");
}

#[test]
fn unparseable_duration_is_refused() {
    let cli = Signoff::new();
    let output = cli.run_with_stdin(
        &["migrate"],
        "",
        &[("SIGNOFF_TOKENS__ACCESS_TOKEN_TTL", "soon")],
    );
    let stderr = assert_failure(&output);
    assert!(
        stderr.to_lowercase().contains("access_token_ttl"),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_is_refused() {
    let cli = Signoff::new();
    let output = cli.run(&["--config", "/nonexistent/signoff.toml", "migrate"]);
    let stderr = assert_failure(&output);
    assert!(stderr.contains("/nonexistent/signoff.toml"), "{stderr}");
}

/// A secret given on the command line is visible in the process list;
/// `--secret-stdin` reads it from standard input instead.
#[test]
fn client_add_reads_the_secret_from_stdin() {
    let cli = Signoff::new();
    let args = [
        "client",
        "add",
        "--id",
        "webapp",
        "--secret-stdin",
        "--redirect-uri",
        "https://webapp.example.com/callback",
    ];
    let output = cli.run_with_stdin(&args, &format!("{SECRET}\n"), &[]);
    assert_success(&output, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("confidential"), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    let url = cli.database_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime.block_on(async {
        let db = signoff::store::connect(&url).await.expect("connect");
        signoff::store::clients::find(&db, "webapp")
            .await
            .expect("read")
            .expect("the client")
            .secret_hash
            .expect("a confidential client")
    });
    assert!(signoff::secrets::verify_password(SECRET, &stored));
    assert!(!signoff::secrets::verify_password(
        &format!("{SECRET}\n"),
        &stored
    ));
}

/// A database password never appears in an error: not in the URL the
/// message names, not in a refused setting.
#[test]
fn database_password_is_redacted_in_errors() {
    let cli = Signoff::new();
    let password = "hunter2-database-password";
    for url in [
        format!("postgres://signoff:{password}@127.0.0.1:1/signoff?connect_timeout=1"),
        format!("mysql://signoff:{password}@127.0.0.1:1/signoff"),
    ] {
        let output = cli.run_with_stdin(&["migrate"], "", &[("SIGNOFF_DATABASE_URL", &url)]);
        let stderr = assert_failure(&output);
        assert!(!stderr.contains(password), "{stderr}");
        assert!(
            stderr.contains("127.0.0.1:1"),
            "the URL is still named: {stderr}"
        );
    }
}

/// RFC 7517 Appendix A.1's public EC key.
const PUBLIC_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"1"}]}"#;

#[test]
fn client_add_registers_a_private_key_jwt_client_from_stdin_and_refuses_private_keys() {
    let cli = Signoff::new();
    let args = [
        "client",
        "add",
        "--id",
        "keyed",
        "--jwks",
        "-",
        "--require-par",
        "--grant-type",
        "client_credentials",
    ];
    let output = cli.run_with_stdin(&args, PUBLIC_JWKS, &[]);
    assert_success(&output, &args);
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(
        out.contains("keyed") && out.contains("private_key_jwt"),
        "{out}"
    );
    let private = PUBLIC_JWKS.replace(
        r#""kid":"1""#,
        r#""kid":"1","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI""#,
    );
    let args = [
        "client",
        "add",
        "--id",
        "leaky",
        "--jwks",
        "-",
        "--grant-type",
        "client_credentials",
    ];
    let stderr = assert_failure(&cli.run_with_stdin(&args, &private, &[]));
    assert!(stderr.contains("private member d"), "{stderr}");
    // One way of authenticating per client.
    let output = cli.run(&[
        "client",
        "add",
        "--id",
        "both",
        "--secret",
        SECRET,
        "--jwks-uri",
        "https://rp.example.com/jwks",
        "--grant-type",
        "client_credentials",
    ]);
    assert_failure(&output);
}
