//! What the fuzz targets share: a Signoff [`AppState`] over a throwaway
//! SQLite database with a few registered clients, built once per process,
//! and a runtime to drive the async validation code one input at a time.
//! Everything here goes through Signoff's public API, so the targets fuzz
//! the code the server runs, not a copy.

use std::sync::{Arc, OnceLock};

use signoff::admin::{self, ClientSpec};
use signoff::clock::SystemClock;
use signoff::random::OsRandom;
use signoff::{AppState, Config};
use tempfile::TempDir;
use tokio::runtime::Runtime;

pub const ISSUER: &str = "https://id.example.com";
/// A public client (auth method `none`, PKCE required).
pub const PUBLIC: &str = "app";
pub const PUBLIC_REDIRECT: &str = "http://127.0.0.1:7001/callback";
/// A confidential client. Its secret is never right in a fuzzed request, so
/// it is only registered where secrets are not checked (argon2 per input
/// would make the client-auth target crawl).
pub const CONFIDENTIAL: &str = "web";
pub const CONFIDENTIAL_REDIRECT: &str = "https://rp.example.com/cb";
const MASTER_KEY: &str = "c2lnbm9mZi10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=";

pub struct Harness {
    pub runtime: Runtime,
    pub state: AppState,
    _dir: TempDir,
}

impl Harness {
    /// The process-wide harness; `confidential` registers [`CONFIDENTIAL`]
    /// too (the first call decides).
    pub fn get(confidential: bool) -> &'static Harness {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(|| Harness::new(confidential))
    }

    fn new(confidential: bool) -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = TempDir::new().expect("temp dir");
        let state = runtime.block_on(async {
            let mut config = Config {
                issuer: url::Url::parse(ISSUER).expect("issuer"),
                database_url: format!("sqlite://{}/fuzz.db?mode=rwc", dir.path().display()),
                ..Config::default()
            };
            config.keys.master_key = Some(MASTER_KEY.into());
            config.validate().expect("valid fuzz configuration");
            let db = signoff::store::connect(&config.database_url)
                .await
                .expect("connect");
            signoff::store::migrate(&db).await.expect("migrate");
            let state = AppState::new(config, db, Arc::new(SystemClock), Arc::new(OsRandom))
                .await
                .expect("state");
            let now = state.now();
            let mut clients = vec![ClientSpec {
                id: PUBLIC.into(),
                redirect_uris: vec![PUBLIC_REDIRECT.into()],
                scopes: vec!["openid profile email offline_access".into()],
                ..ClientSpec::default()
            }];
            if confidential {
                clients.push(ClientSpec {
                    id: CONFIDENTIAL.into(),
                    secret: Some("web-secret-0123456789".into()),
                    redirect_uris: vec![CONFIDENTIAL_REDIRECT.into()],
                    id_token_alg: Some("ES256".into()),
                    ..ClientSpec::default()
                });
            }
            for spec in clients {
                admin::add_client(&state.db, &OsRandom, spec, now)
                    .await
                    .expect("add client");
            }
            state
        });
        Harness {
            runtime,
            state,
            _dir: dir,
        }
    }
}
