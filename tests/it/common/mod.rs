//! Test harness: a real Signoff server on an ephemeral port with its own
//! database, driven over HTTP. SQLite in a temporary directory by default;
//! PostgreSQL (a fresh database per server) when SIGNOFF_TEST_DATABASE_URL
//! names a PostgreSQL server. By concern: `server` (start one, its clients
//! and user), `browser` (a cookie jar that fills in our pages), `oauth` (the
//! requests and checks of a relying party).
#![allow(dead_code)]

mod browser;
mod oauth;
mod server;

pub use browser::*;
pub use oauth::*;
pub use server::*;

pub const APP: &str = "app";
pub const APP_SECRET: &str = "app-secret-0123456789";
pub const APP_REDIRECT: &str = "http://127.0.0.1:7001/callback";
pub const SPA: &str = "spa";
pub const SPA_REDIRECT: &str = "http://127.0.0.1:7002/callback";
pub const FIRST: &str = "first";
pub const FIRST_SECRET: &str = "first-secret-0123456789";
pub const FIRST_REDIRECT: &str = "https://first.example.com/callback";
pub const SERVICE: &str = "service";
pub const SERVICE_SECRET: &str = "service-secret-0123456789";
pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "correct horse battery";
/// Master key sealing the test servers' signing keys (32 bytes, base64).
pub const TEST_MASTER_KEY: &str = "c2lnbm9mZi10ZXN0LW1hc3Rlci1rZXktMzItYnl0ZXM=";
