//! # signoff-guard
//!
//! A resource-server guard for axum and any tower service: it accepts
//! RFC 9068 JWT access tokens from one OpenID provider for one audience,
//! verified against the provider's JWKS, and rejects revoked ones within a
//! bound, with no call to the provider per request. Revocations arrive
//! through the provider's Shared Signals (SSF 1.0) stream, long-polled
//! (RFC 8936); when the stream has been unreachable longer than the
//! freshness bound, the guard fails closed (503) or asks the introspection
//! endpoint (RFC 7662). Opaque tokens can be accepted through introspection.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use signoff_guard::{Claims, Guard};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = Guard::builder("https://login.example.com", "https://api.example.com")
//!     .client_credentials("orders-api", std::env::var("GUARD_CLIENT_SECRET")?)
//!     .build()
//!     .await?;
//! let app: Router = Router::new()
//!     .route("/orders", get(|claims: Claims| async move { format!("hello {}", claims.subject()) }))
//!     .layer(guard.layer());
//! # Ok(()) }
//! ```

mod access_token;
mod bearer;
mod cache;
mod claims;
mod clock;
mod error;
mod events;
mod guard;
mod health;
mod introspection;
mod jwks;
mod jwt;
mod layer;
mod management;
mod provider;
mod receiver;
mod revocation;
mod set_validation;

pub use claims::{Claims, InsufficientScope, TokenKind};
pub use clock::{Clock, SystemClock};
pub use error::{GuardError, Reason, Rejection};
pub use guard::{Guard, GuardBuilder, WhenStale};
pub use health::{Phase, Status};
pub use layer::{GuardFuture, GuardLayer, GuardService};
pub use revocation::{Matched, Revocation, RevocationSet, TokenFacts};

/// Event type URIs the guard understands (SSF, CAEP, RISC, Signoff).
pub mod event_types {
    pub use crate::events::{
        ACCOUNT_DISABLED, ACCOUNT_ENABLED, CREDENTIAL_CHANGE, SESSION_REVOKED, STREAM_UPDATED,
        TOKENS_REVOKED, VERIFICATION,
    };
}
