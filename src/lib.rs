//! Signoff: an OpenID Connect provider that makes "how do we log out with
//! JWTs?" a configuration choice. See README.md and docs/design.md.

pub mod admin;
pub mod allocator;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dpop;
pub mod error;
pub mod gateway;
pub mod grant_type;
pub mod health;
pub mod http;
pub mod jws;
pub mod keys;
pub mod logout;
pub mod maintenance;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod random;
pub mod revocation;
pub mod routes;
pub mod scope;
pub mod seal;
pub mod secrets;
pub mod session;
pub mod ssf;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tokens;

use std::future::Future;

use tokio::net::TcpListener;

pub use config::Config;
pub use routes::router;
pub use state::AppState;

/// Serve `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = maintenance::spawn(state.clone());
    let logout_worker = logout::backchannel::spawn(state.clone());
    let push_worker = ssf::push::spawn(state.clone());
    let revocation_tail = revocation::spawn_tail(
        state.revocations.clone(),
        state.config.database_url.clone(),
        state.config.revocation.poll_interval,
    );
    let limits = state.config.http.clone();
    let result = http::server::serve(listener, router(state), &limits, shutdown).await;
    background.abort();
    logout_worker.abort();
    push_worker.abort();
    revocation_tail.abort();
    result
}
