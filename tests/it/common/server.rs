//! Starting a test server: its own database and port, the standard clients
//! and user, the shared MockClock.

use std::sync::Arc;

use reqwest::redirect::Policy;
use sea_orm::{ConnectionTrait, Database};
use signoff::admin::{self, ClientSpec, UserSpec};
use signoff::clock::{Clock, MockClock};
use signoff::random::OsRandom;
use signoff::{AppState, Config};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

use super::*;

pub struct TestServer {
    pub base: String,
    pub clock: MockClock,
    pub state: AppState,
    pub http: reqwest::Client,
    /// Every SQL statement the server has run (`store::count_statements`).
    pub statements: Arc<std::sync::atomic::AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client that never follows redirects, as a relying party's back end.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("http client")
}

/// A database for one server: a SQLite file in `dir`, or a new PostgreSQL
/// database when SIGNOFF_TEST_DATABASE_URL names a PostgreSQL server.
pub async fn database_url(dir: &TempDir) -> String {
    match std::env::var("SIGNOFF_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let admin = Database::connect(&url)
                .await
                .expect("connect to the PostgreSQL test server");
            // SIGNOFF_TEST_DB_PREFIX lets a CI run drop exactly its own databases.
            let prefix = std::env::var("SIGNOFF_TEST_DB_PREFIX")
                .unwrap_or_else(|_| "signoff_test_".to_owned());
            let name = format!(
                "{prefix}{}",
                signoff::random::identifier(&OsRandom)
                    .to_lowercase()
                    .replace('-', "_")
            );
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let mut parsed = Url::parse(&url).expect("database url");
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        _ => format!("sqlite://{}/signoff.db?mode=rwc", dir.path().display()),
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Start a server whose configuration `adjust` may change, with the
    /// standard clients and user registered.
    pub async fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        // The server's errors go to the test's captured output, so a failing
        // test shows why the server answered 500 (printed only on failure).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
            .with_test_writer()
            .try_init();
        let dir = TempDir::new().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config {
            issuer: Url::parse(&format!("http://{addr}")).expect("issuer"),
            bind: addr,
            database_url: database_url(&dir).await,
            ..Config::default()
        };
        config.keys.master_key = Some(TEST_MASTER_KEY.into());
        adjust(&mut config);
        config.validate().expect("valid test configuration");
        let mut db = signoff::store::connect(&config.database_url)
            .await
            .expect("connect");
        let statements = signoff::store::count_statements(&mut db);
        signoff::store::migrate(&db).await.expect("migrate");
        let clock = MockClock::starting_now();
        let state = AppState::new(config, db, Arc::new(clock.clone()), Arc::new(OsRandom))
            .await
            .expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        let server_state = state.clone();
        tokio::spawn(async move {
            let _ = signoff::serve(listener, server_state, async {
                let _ = rx.await;
            })
            .await;
        });
        let server = TestServer {
            base: format!("http://{addr}"),
            clock,
            state,
            http: http_client(),
            shutdown: Some(tx),
            statements,
            _dir: dir,
        };
        server.seed().await;
        server
    }

    async fn seed(&self) {
        self.add_client(ClientSpec {
            id: APP.into(),
            secret: Some(APP_SECRET.into()),
            redirect_uris: vec![APP_REDIRECT.into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: SPA.into(),
            secret: None,
            redirect_uris: vec![SPA_REDIRECT.into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: FIRST.into(),
            secret: Some(FIRST_SECRET.into()),
            redirect_uris: vec![FIRST_REDIRECT.into()],
            first_party: true,
            ..ClientSpec::default()
        })
        .await;
        self.add_client(ClientSpec {
            id: SERVICE.into(),
            secret: Some(SERVICE_SECRET.into()),
            scopes: vec!["api.read".into(), "api.write".into()],
            grant_types: vec!["client_credentials".into()],
            ..ClientSpec::default()
        })
        .await;
        self.add_user(ALICE, ALICE_PASSWORD).await;
    }

    pub async fn add_client(&self, spec: ClientSpec) {
        admin::add_client(&self.state.revoker(), spec)
            .await
            .expect("add client");
    }

    pub async fn add_user(&self, username: &str, password: &str) -> String {
        admin::add_user(
            &self.state.db,
            &OsRandom,
            UserSpec {
                username,
                email: Some(&format!("{username}@example.com")),
                name: Some("Alice Example"),
                password,
                phone_number: Some("+15551234567"),
                address: Some("1 Example Road, Springfield"),
            },
            self.clock.now(),
        )
        .await
        .expect("add user")
    }

    /// The id (`sub`) of user `username`.
    pub async fn user_id(&self, username: &str) -> String {
        signoff::store::users::find_by_username(&self.state.db, username)
            .await
            .expect("read user")
            .unwrap_or_else(|| panic!("no user {username}"))
            .id
    }

    /// Disable `username` through this server, as an administrator.
    pub async fn disable_user(&self, username: &str) -> signoff::revocation::UserRevocation {
        let id = self.user_id(username).await;
        signoff::revocation::disable_user(
            &self.state.revoker(),
            &id,
            signoff::revocation::Initiator::Admin,
        )
        .await
        .expect("disable user")
        .expect("an enabled user")
    }

    /// "Log out everywhere" for `username` through this server.
    pub async fn logout_everywhere(&self, username: &str) -> signoff::revocation::UserRevocation {
        let id = self.user_id(username).await;
        signoff::revocation::logout_everywhere(
            &self.state.revoker(),
            &id,
            signoff::revocation::Initiator::Admin,
        )
        .await
        .expect("log out everywhere")
        .expect("a user")
    }

    /// Every event of the revocation log this server's view has applied.
    /// Wait until this instance's view has applied every event committed so
    /// far, by any process: see [`view_caught_up`].
    pub async fn caught_up(&self) {
        view_caught_up(&self.state).await
    }

    pub async fn logged_events(&self) -> Vec<signoff::revocation::Event> {
        self.state
            .revocations
            .events_after(0, 10_000)
            .await
            .expect("read the revocation log")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A fresh browser: its own cookie jar, redirects followed by hand.
    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .build()
                .expect("browser"),
        }
    }

    /// POST a form to the token endpoint with HTTP Basic client credentials.
    pub async fn token_request(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("token request")
    }
}

/// The bound within which a change another process commits (the CLI,
/// another instance) counts on an instance under `eventual` consistency:
/// the view's next poll (`revocation.poll_interval`, 100 ms; sooner on
/// PostgreSQL, which notifies) plus one read of the log. Tests wait up to
/// this much, which leaves a busy machine ample slack.
pub const PROPAGATION_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// Wait (up to [`PROPAGATION_BOUND`]) until `state`'s revocation view has
/// applied every event committed to the log so far; panics past it.
pub async fn view_caught_up(state: &AppState) {
    let newest = signoff::store::revocation_log::max_seq(&state.db)
        .await
        .expect("read the newest event");
    let mut applied = state.revocations.subscribe();
    tokio::time::timeout(PROPAGATION_BOUND, applied.wait_for(|s| *s >= newest))
        .await
        .expect("the view applied every committed event within the propagation bound")
        .expect("the view is alive");
}
