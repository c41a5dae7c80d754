//! A small API behind signoff-guard: one protected route, `GET /me`, that
//! answers who called and with which scopes. Also used by Signoff's tests.
//!
//!     SIGNOFF_ISSUER=http://127.0.0.1:8080 API_AUDIENCE=https://api.example \
//!     GUARD_CLIENT_ID=orders-api GUARD_CLIENT_SECRET=… \
//!     cargo run -p signoff-guard --example protected_api

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use signoff_guard::{Claims, Guard};

/// The API's routes, every one behind `guard`.
pub fn app(guard: &Guard) -> Router {
    Router::new().route("/me", get(me)).layer(guard.layer())
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.subject(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().collect::<Vec<_>>(),
        "user": claims.is_user_token(),
    }))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let guard = Guard::builder(var("SIGNOFF_ISSUER")?, var("API_AUDIENCE")?)
        .client_credentials(var("GUARD_CLIENT_ID")?, var("GUARD_CLIENT_SECRET")?)
        .build()
        .await?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{bind}/me");
    axum::serve(listener, app(&guard)).await?;
    Ok(())
}
