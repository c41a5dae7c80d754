//! sea-orm entities, one file per table. Only `store` uses these directly;
//! the rest of the crate sees the domain types the repositories return.
pub mod access_token;
pub mod authorization_code;
pub mod client;
pub mod consent;
pub mod grant;
pub mod interaction;
pub mod logout_outbox;
pub mod pushed_request;
pub mod refresh_token;
pub mod replay_guard;
pub mod revocation_event;
pub mod session;
pub mod session_client;
pub mod signing_key;
pub mod user;
