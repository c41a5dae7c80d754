//! The `signoff` command line.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::admin::{self, ClientSpec, UserSpec};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, LogFormat};
use crate::jws::Algorithm;
use crate::keys;
use crate::random::OsRandom;
use crate::revocation::{self, Initiator, Revoker};
use crate::seal::{self, MasterKeys};
use crate::store::{self, users};

mod manage;
mod ops;
mod serve;

pub(crate) use serve::shutdown_signal;
pub use serve::{DEMO_CLIENT, DEMO_USER};

#[derive(Parser)]
#[command(name = "signoff", version, about = "An OpenID Connect provider")]
pub struct Cli {
    /// TOML configuration file; SIGNOFF_* environment variables override it.
    #[arg(long, global = true, env = "SIGNOFF_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Create (or reset) a demo client and user and print their credentials.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations.
    Migrate,
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and end SSO sessions (relying parties are notified).
    #[command(subcommand)]
    Session(SessionCommand),
    /// Back-Channel Logout notifications and their delivery.
    #[command(subcommand)]
    LogoutDeliveries(LogoutDeliveriesCommand),
    /// Reverse proxy that admits only live tokens of this issuer (signoff-guard).
    Gateway(Box<crate::gateway::GatewayArgs>),
    /// The audit trail: sign-ins, consent, revocations, logouts, administration.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy a live SQLite database to FILE (PostgreSQL: use pg_dump).
    Backup { file: PathBuf },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Audit events, newest first.
    List {
        /// Only events about this user.
        #[arg(long)]
        user: Option<String>,
        /// Only events since this long ago (e.g. 24h) or this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file and SIGNOFF_* variables) and print the
    /// settings in effect, secrets redacted; exits non-zero when invalid.
    Check,
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// List sessions that have not ended.
    List {
        /// Only this user's sessions.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// End a session (by its sid) and notify its relying parties.
    Revoke {
        // A sid is base64url and may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        sid: String,
    },
}

#[derive(Subcommand)]
pub enum LogoutDeliveriesCommand {
    /// List notifications, newest first.
    List {
        /// Only pending, delivered or failed ones.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client.
    Add(Box<ClientAddArgs>),
    /// List clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a client's registration.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's registration (each option given replaces that setting).
    Update(Box<manage::ClientUpdateArgs>),
    /// Give a confidential client a new secret, printed once (or read from
    /// stdin with --secret-stdin); the old one stops working.
    RotateSecret {
        id: String,
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Remove a client: every token it holds stops working.
    Remove { id: String },
    /// Void every token issued to a client so far.
    RevokeTokens { id: String },
    /// Disable a client: it authenticates nowhere and its tokens stop working.
    Disable { id: String },
    /// Enable a disabled client (its earlier tokens stay void).
    Enable { id: String },
}

#[derive(Args)]
// A struct-level #[group] would make every field a member (so --id would
// conflict with --secret); the group must hold exactly --secret,
// --secret-stdin and --public.
#[command(group(clap::ArgGroup::new("kind").required(true).multiple(false).args(["secret", "secret_stdin", "public", "jwks", "jwks_uri"])))]
pub struct ClientAddArgs {
    #[arg(long)]
    pub id: String,
    /// Confidential client with this secret (stored as an argon2id hash).
    /// (A command line is visible to every local user in the process list:
    /// prefer --secret-stdin.)
    #[arg(long)]
    pub secret: Option<String>,
    /// Confidential client whose secret is read from standard input (one
    /// line), kept out of the process list and shell history.
    #[arg(long)]
    pub secret_stdin: bool,
    /// Public client (no secret; PKCE required).
    #[arg(long)]
    pub public: bool,
    /// Confidential client authenticating with private_key_jwt (RFC 7523):
    /// its public JWK Set, read from FILE, or from standard input for `-`.
    #[arg(long, value_name = "FILE|-")]
    pub jwks: Option<String>,
    /// Confidential client authenticating with private_key_jwt, its public
    /// keys fetched from this https URL (cached, client_auth.jwks_uri_*).
    #[arg(long)]
    pub jwks_uri: Option<String>,
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may receive (default: openid profile email address phone offline_access);
    /// a value with spaces registers each token; RFC 6749 §3.3 characters only.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Grant types (default: authorization_code refresh_token; also
    /// client_credentials, and device_code for RFC 8628).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// Trusted first-party application: no consent page.
    #[arg(long)]
    pub first_party: bool,
    /// Require PKCE even though the client is confidential.
    #[arg(long)]
    pub require_pkce: bool,
    /// id_token_signed_response_alg: RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Access token format: opaque (default) or jwt.
    #[arg(long)]
    pub access_token_format: Option<String>,
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    #[arg(long)]
    pub frontchannel_logout_uri: Option<String>,
    /// What ending a session does to this client's tokens of it:
    /// session_tokens (default: revoke them) or nothing.
    #[arg(long)]
    pub logout_revokes: Option<String>,
    /// Keep offline_access tokens when a session ends.
    #[arg(long)]
    pub keep_offline_tokens: bool,
    /// Register the client as a resource server that may introspect (RFC 7662)
    /// tokens issued for this audience; repeatable. Without it a client may
    /// introspect only its own tokens.
    #[arg(long = "introspect", value_name = "AUDIENCE")]
    pub introspect_audiences: Vec<String>,
    /// Device binding (RFC 9449 DPoP): refuse the client's token requests
    /// without a DPoP proof, so every token it gets is bound to its key.
    #[arg(long = "dpop-bound")]
    pub dpop_bound: bool,
    /// Accept this client's authorization requests only through /par (RFC
    /// 9126 §6: require_pushed_authorization_requests).
    #[arg(long)]
    pub require_par: bool,
    /// Audience (RFC 8707 resource) the client may request; the first is the default `aud`.
    #[arg(long = "audience")]
    pub audiences: Vec<String>,
    /// Access token lifetime for this client (e.g. 5m), instead of tokens.access_token_ttl.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub access_token_ttl: Option<std::time::Duration>,
    /// Sliding refresh token lifetime (e.g. 14d), instead of tokens.refresh_token_idle_ttl.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub refresh_token_idle_ttl: Option<std::time::Duration>,
    /// Absolute refresh token lifetime (e.g. 90d), instead of tokens.refresh_token_absolute_ttl.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub refresh_token_absolute_ttl: Option<std::time::Duration>,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Phone number in E.164 form, e.g. +15551234567 (released with the phone scope).
        #[arg(long)]
        phone: Option<String>,
        /// Postal address as one line (released with the address scope).
        #[arg(long)]
        address: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a user (never the password).
    Show {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password, read from standard input: every session of the
    /// user ends and earlier tokens stop working.
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: no more logins, every session ends (relying parties
    /// are notified), and their tokens stop working.
    Disable { username: String },
    /// Enable a disabled user (their earlier tokens stay void).
    Enable { username: String },
    /// End every session and void every token of a user issued so far.
    LogoutEverywhere { username: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state (next, current, retired, removed).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Promote each algorithm's next key (now, or as soon as relying parties
    /// can have seen it) and publish a new next key.
    Rotate {
        /// Only this algorithm (RS256, ES256 or EdDSA).
        #[arg(long)]
        alg: Option<String>,
        /// Use the development master key of `serve --demo`.
        #[arg(long)]
        demo: bool,
    },
    /// Remove a key at once (compromise): it leaves the JWKS and its tokens
    /// stop being accepted; if it was signing, the next key takes over.
    Revoke {
        // A kid is base64url and may begin with '-'.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Use the development master key of `serve --demo`.
        #[arg(long)]
        demo: bool,
    },
    /// Print a new random master key for SIGNOFF_MASTER_KEY.
    GenerateMasterKey,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    init_tracing(&config, &cli.command);
    if let Command::Gateway(args) = cli.command {
        // The gateway needs the issuer only: no database, no keys.
        return crate::gateway::run(&config, *args).await;
    }
    if let Command::Config(ConfigCommand::Check) = cli.command {
        return ops::config_check(&config);
    }
    // What needs a master key refuses before touching the database.
    let config = match &cli.command {
        Command::Keys(KeysCommand::GenerateMasterKey) => {
            println!("{}", MasterKeys::generate(&OsRandom));
            return Ok(());
        }
        Command::Serve { demo }
        | Command::Keys(KeysCommand::Rotate { demo, .. } | KeysCommand::Revoke { demo, .. }) => {
            with_master_key(config, *demo)?
        }
        _ => config,
    };
    // The URL may carry a password: errors show it redacted, and the
    // driver's message is scrubbed of it too.
    let db = store::connect(&config.database_url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {}",
            config.database_url_redacted(),
            config.scrub_database_password(&e.to_string())
        )
    })?;
    store::migrate(&db).await.map_err(|e| {
        anyhow::anyhow!(
            "database migration failed: {}",
            config.scrub_database_password(&e.to_string())
        )
    })?;
    let now = SystemClock.now();
    let rng = OsRandom;
    // Running servers learn of what this process revokes by tailing the log.
    let rev = Revoker::new(&db, &config, &rng, now);
    match cli.command {
        Command::Migrate => println!("database is up to date"),
        Command::Serve { demo } => serve::serve(config, db, demo).await?,
        Command::Client(ClientCommand::Add(a)) => {
            let a = *a;
            // A client may only ask for an algorithm whose keys are rotated.
            if let Some(alg) = &a.id_token_alg
                && let Some(parsed) = Algorithm::parse(alg)
                && !config.keys.enabled_algorithms().contains(&parsed)
            {
                bail!("id token algorithm {alg} is not enabled (keys.algorithms)");
            }
            let spec = ClientSpec {
                id: a.id,
                secret: if a.public {
                    None
                } else if a.secret_stdin {
                    Some(read_stdin_line("the client secret")?)
                } else {
                    a.secret
                },
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_redirect_uris,
                scopes: a.scopes,
                grant_types: a.grant_types,
                first_party: a.first_party,
                require_pkce: a.require_pkce,
                id_token_alg: a.id_token_alg,
                access_token_format: a.access_token_format,
                backchannel_logout_uri: a.backchannel_logout_uri,
                frontchannel_logout_uri: a.frontchannel_logout_uri,
                audiences: a.audiences,
                access_token_ttl: a.access_token_ttl.map(|d| d.as_secs() as i64),
                refresh_token_idle_ttl: a.refresh_token_idle_ttl.map(|d| d.as_secs() as i64),
                refresh_token_absolute_ttl: a
                    .refresh_token_absolute_ttl
                    .map(|d| d.as_secs() as i64),
                logout_revokes: a.logout_revokes,
                keep_offline_tokens: a.keep_offline_tokens,
                introspect_audiences: a.introspect_audiences,
                dpop_bound_access_tokens: a.dpop_bound,
                require_pushed_authorization_requests: a.require_par,
                jwks: match a.jwks.as_deref() {
                    None => None,
                    Some("-") => Some(read_stdin_line("the client's JWK Set")?),
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("reading the JWK Set {path}"))?,
                    ),
                },
                jwks_uri: a.jwks_uri,
            };
            let c = admin::add_client(&rev, spec).await?;
            manage::admin_event(&db, now, "client_added", &c.id).await;
            println!(
                "client {} added ({})",
                c.id,
                if c.is_public() {
                    "public"
                } else if c.keys.is_some() {
                    "confidential, private_key_jwt"
                } else {
                    "confidential"
                }
            );
        }
        Command::Client(ClientCommand::List { json }) => manage::list_clients(&db, json).await?,
        Command::Client(ClientCommand::Show { id, json }) => {
            manage::show_client(&db, &id, json).await?
        }
        Command::Client(ClientCommand::Update(args)) => {
            manage::update_client(&db, &config, now, *args).await?
        }
        Command::Client(ClientCommand::RotateSecret { id, secret_stdin }) => {
            manage::rotate_secret(&rev, &id, secret_stdin).await?
        }
        Command::Client(ClientCommand::Remove { id }) => {
            if !revocation::remove_client(&rev, &id).await? {
                bail!("no client {id}");
            }
            println!("client {id} removed; every token it held is void");
        }
        Command::Client(ClientCommand::Disable { id }) => {
            if revocation::disable_client(&rev, &id).await?.is_none() {
                bail!("no enabled client {id}");
            }
            println!("client {id} disabled; every token it held is void");
        }
        Command::Client(ClientCommand::Enable { id }) => {
            if revocation::enable_client(&rev, &id).await?.is_none() {
                bail!("no disabled client {id}");
            }
            println!("client {id} enabled; tokens from before it was disabled stay void");
        }
        Command::User(UserCommand::Add {
            username,
            email,
            name,
            phone,
            address,
            password_stdin: _,
        }) => {
            let password = &read_stdin_line("the password")?;
            let spec = UserSpec {
                username: &username,
                email: email.as_deref(),
                name: name.as_deref(),
                password,
                phone_number: phone.as_deref(),
                address: address.as_deref(),
            };
            let id = admin::add_user(&db, &rng, spec, now).await?;
            manage::admin_event(&db, now, "user_added", &id).await;
            println!("user {username} added (sub {id})");
        }
        Command::User(UserCommand::LogoutEverywhere { username }) => {
            let id = user_id(&db, &username).await?;
            let Some(done) = revocation::logout_everywhere(&rev, &id, Initiator::Admin).await?
            else {
                bail!("no user {username}");
            };
            println!(
                "user {username}: every session and token issued so far is void ({} session{} ended)",
                done.ended.len(),
                if done.ended.len() == 1 { "" } else { "s" }
            );
        }
        Command::Client(ClientCommand::RevokeTokens { id }) => {
            if revocation::void_client_tokens(&rev, &id).await?.is_none() {
                bail!("no client {id}");
            }
            println!("client {id}: every token issued so far is void");
        }
        Command::User(UserCommand::List { json }) => manage::list_users(&db, json).await?,
        Command::User(UserCommand::Show { username, json }) => {
            manage::show_user(&db, &username, json).await?
        }
        Command::User(UserCommand::SetPassword { username, .. }) => {
            manage::set_password(&rev, &username).await?
        }
        Command::User(UserCommand::Disable { username }) => {
            let id = user_id(&db, &username).await?;
            let Some(done) = revocation::disable_user(&rev, &id, Initiator::Admin).await? else {
                bail!("user {username} is disabled already");
            };
            println!(
                "user {username} disabled; every token is void ({} session{} ended)",
                done.ended.len(),
                if done.ended.len() == 1 { "" } else { "s" }
            );
        }
        Command::User(UserCommand::Enable { username }) => {
            let id = user_id(&db, &username).await?;
            if revocation::enable_user(&rev, &id, Initiator::Admin)
                .await?
                .is_none()
            {
                bail!("user {username} is not disabled");
            }
            println!("user {username} enabled; tokens from before it was disabled stay void");
        }
        Command::Keys(command) => keys_command(&config, &rev, command).await?,
        Command::Session(SessionCommand::List { user, json }) => {
            crate::session::admin::list_sessions(&db, user.as_deref(), now, json).await?
        }
        Command::Session(SessionCommand::Revoke { sid }) => {
            crate::session::admin::revoke_session(&rev, &sid).await?
        }
        Command::LogoutDeliveries(LogoutDeliveriesCommand::List {
            status,
            limit,
            json,
        }) => crate::session::admin::list_deliveries(&db, status.as_deref(), limit, json).await?,
        Command::Audit(AuditCommand::List {
            user,
            since,
            limit,
            json,
        }) => {
            let since = since.map(|s| ops::parse_since(&s, now)).transpose()?;
            ops::audit_list(&db, user.as_deref(), since, limit, json).await?
        }
        Command::Backup { file } => ops::backup(&db, &file).await?,
        Command::Gateway(_) | Command::Config(_) => {
            unreachable!("handled before the database is opened")
        }
    }
    Ok(())
}

/// The id (`sub`) of the user named `username`.
async fn user_id(db: &sea_orm::DatabaseConnection, username: &str) -> anyhow::Result<String> {
    match users::find_by_username(db, username).await? {
        Some(u) => Ok(u.id),
        None => bail!("no user {username}"),
    }
}

async fn keys_command(
    config: &Config,
    rev: &Revoker<'_>,
    command: KeysCommand,
) -> anyhow::Result<()> {
    use crate::keys::rotation::{at, key_states};
    let db = rev.db();
    let now = rev.now();
    match command {
        KeysCommand::List { json } => {
            let all = store::keys::list_all(db).await?;
            if json {
                let listed: Vec<serde_json::Value> = all
                    .iter()
                    .zip(key_states(&all, now))
                    .map(|(k, state)| {
                        serde_json::json!({
                            "kid": k.kid,
                            "alg": k.alg,
                            "state": state.as_str(),
                            "signs_from": at(k.activates_at),
                            "retires_at": k.retires_at.map(at),
                            "removed_at": k.removed_at.map(at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
                return Ok(());
            }
            for (k, state) in all.iter().zip(key_states(&all, now)) {
                let instant = |t: Option<i64>| t.map(at).unwrap_or_else(|| "-".into());
                println!(
                    "{}\t{}\t{}\tsigns_from={}\tretires_at={}\tremoved_at={}",
                    k.kid,
                    k.alg,
                    state.as_str(),
                    at(k.activates_at),
                    instant(k.retires_at),
                    instant(k.removed_at)
                );
            }
        }
        KeysCommand::Rotate { alg, .. } => {
            let enabled = config.keys.enabled_algorithms();
            let algs = match alg {
                None => enabled.clone(),
                Some(a) => {
                    vec![Algorithm::parse(&a).with_context(|| format!("unknown algorithm {a}"))?]
                }
            };
            let master_keys = keys::master_keys(&config.keys)?;
            let lifecycle = lifecycle(config, db, &master_keys, &enabled).await?;
            for alg in algs {
                let rotated = lifecycle.rotate(db, alg, now).await?;
                for change in &rotated.changes {
                    tracing::info!(%change, "signing keys");
                }
                let when = if rotated.signs_from <= now {
                    "now".to_owned()
                } else {
                    // Not yet published for a full JWKS cache lifetime.
                    format!(
                        "{} (once relying parties can have seen it)",
                        at(rotated.signs_from)
                    )
                };
                manage::admin_event(db, now, "key_rotated", &rotated.promoted).await;
                println!("{alg}: signs from {when} with key {}", rotated.promoted);
            }
        }
        KeysCommand::Revoke { kid, .. } => {
            let enabled = config.keys.enabled_algorithms();
            let master_keys = keys::master_keys(&config.keys)?;
            let lifecycle = lifecycle(config, db, &master_keys, &enabled).await?;
            let revoked = revocation::revoke_key(rev, &lifecycle, &kid).await?;
            println!(
                "{}: key {kid} ({}) removed; running servers stop accepting its tokens within {}",
                revoked.alg,
                revoked.was.as_str(),
                humantime::format_duration(config.revocation.poll_interval)
            );
            for change in revoked.changes.iter().skip(1) {
                println!("  {change}");
            }
        }
        KeysCommand::GenerateMasterKey => println!("{}", MasterKeys::generate(&OsRandom)),
    }
    Ok(())
}

async fn lifecycle<'a>(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
    master_keys: &'a MasterKeys,
    enabled: &'a [Algorithm],
) -> anyhow::Result<keys::Lifecycle<'a>> {
    Ok(keys::Lifecycle {
        master_keys,
        rng: &OsRandom,
        schedule: keys::Schedule::load(config, db).await?,
        enabled,
    })
}

/// `serve` and the key commands need a master key. Without one configured,
/// only `--demo` goes on, with a development key kept in a file in the
/// working directory (created on first use, reused on restart so the keys
/// it sealed still open).
fn with_master_key(mut config: Config, demo: bool) -> anyhow::Result<Config> {
    if config.keys.has_master_key() {
        return Ok(config);
    }
    if !demo {
        keys::master_keys(&config.keys)?;
    }
    let path = std::path::PathBuf::from(seal::DEV_MASTER_KEY_FILE);
    MasterKeys::load_or_create_dev(&path, &OsRandom)?;
    let warning = format!(
        "NO MASTER KEY CONFIGURED: signing keys are encrypted with the development key in {}. \
         Anyone who can read that file and the database can forge tokens. \
         Set SIGNOFF_MASTER_KEY for any real use.",
        path.display()
    );
    let rule = "!".repeat(78);
    eprintln!("\n{rule}\n  WARNING: {warning}\n{rule}\n");
    tracing::warn!("{warning}");
    config.keys.master_key_file = Some(path);
    Ok(config)
}

/// Logs go to standard error (a command's result goes to standard output).
/// Commands other than `serve` and `gateway` log only warnings of the
/// migrator, so an operator sees their result, not the schema steps.
fn init_tracing(config: &Config, command: &Command) {
    use std::io::IsTerminal;
    let mut filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !matches!(command, Command::Serve { .. } | Command::Gateway(_)) {
        for quiet in ["sea_orm_migration=warn", "sea_orm=warn", "sqlx=warn"] {
            if let Ok(d) = quiet.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// A secret read from standard input: everything up to the end, without
/// the final line break.
fn read_stdin_line(what: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("reading {what} from stdin"))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}
