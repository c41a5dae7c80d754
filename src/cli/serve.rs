//! `signoff serve`: the server, and its `--demo` setup.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::admin::{self, ClientSpec, UserSpec};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::grant_type::GrantType;
use crate::random::{OsRandom, secret_token};
use crate::revocation::{self, Initiator, Revoker};
use crate::state::AppState;
use crate::store::{clients, users};

pub(super) async fn serve(
    config: Config,
    db: sea_orm::DatabaseConnection,
    demo: bool,
) -> anyhow::Result<()> {
    if demo {
        demo_setup(&config, &db).await?;
    }
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let metrics_listener = match config.metrics_bind {
        Some(addr) => {
            crate::metrics::install()?;
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (metrics_bind)"))?;
            Some(listener)
        }
        None => None,
    };
    let issuer = config.issuer_str().to_owned();
    let state = AppState::production(config, db).await?;
    let metrics = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "metrics at /metrics");
        }
        let app = crate::metrics::router(state.clone());
        let limits = state.config.http.clone();
        tokio::spawn(async move {
            crate::http::server::serve(listener, app, &limits, std::future::pending()).await
        })
    });
    tracing::info!(%issuer, addr = %listener.local_addr()?, "signoff is listening");
    let served = crate::serve(listener, state, shutdown_signal()).await;
    if let Some(task) = metrics {
        task.abort();
    }
    served?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub const DEMO_CLIENT: &str = "demo";
pub const DEMO_USER: &str = "demo";

/// `--demo`: a confidential client and a user to try the flow with. Fresh
/// credentials are generated on every start and printed (only hashes are
/// stored, so earlier ones cannot be shown again).
async fn demo_setup(config: &Config, db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    let rng = OsRandom;
    let now = SystemClock.now();
    let secret = secret_token(&rng);
    let password = secret_token(&rng)[..16].to_owned();
    let redirect_uri = "http://127.0.0.1:9000/callback";
    let rev = Revoker::new(db, config, &rng, now);
    if clients::find(db, DEMO_CLIENT).await?.is_some() {
        admin::rotate_secret(&rev, DEMO_CLIENT, Some(secret.clone())).await?;
    } else {
        admin::add_client(
            &rev,
            ClientSpec {
                id: DEMO_CLIENT.into(),
                secret: Some(secret.clone()),
                redirect_uris: vec![redirect_uri.into()],
                post_logout_redirect_uris: vec!["http://127.0.0.1:9000/".into()],
                grant_types: GrantType::ALL.iter().map(|g| g.to_string()).collect(),
                ..ClientSpec::default()
            },
        )
        .await?;
    }
    if let Some(user) = users::find_by_username(db, DEMO_USER).await? {
        // A new password ends the demo user's sessions, as any would.
        let hash = crate::secrets::hash_password(&password, &rng)?;
        revocation::set_password(&rev, &user.id, &hash, Initiator::Admin).await?;
    } else {
        admin::add_user(
            db,
            &rng,
            UserSpec {
                username: DEMO_USER,
                email: Some("demo@example.com"),
                name: Some("Demo User"),
                password: &password,
                phone_number: Some("+15550100100"),
                address: Some("1 Demo Street, Springfield"),
            },
            now,
        )
        .await?;
    }
    let issuer = config.issuer_str();
    println!(
        "\nSignoff demo mode — for trying things out on this machine only.\n\
         \n  Discovery:      {issuer}/.well-known/openid-configuration\
         \n  Client ID:      {DEMO_CLIENT}\
         \n  Client secret:  {secret}\
         \n  Redirect URI:   {redirect_uri}\
         \n  User:           {DEMO_USER}\
         \n  Password:       {password}\
         \n\n  Start a login in a browser:\
         \n  {issuer}/authorize?response_type=code&client_id={DEMO_CLIENT}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback&scope=openid%20profile%20email&state=xyz&nonce=n1\n"
    );
    Ok(())
}
