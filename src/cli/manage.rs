//! `signoff client …` and `signoff user …` beyond adding and revoking:
//! showing (text or `--json`), changing a registration, new secrets and
//! passwords. Every change is in the database, and commits with its event
//! of the revocation log, through which every instance learns of it (and,
//! for clients, drops its cached row: `store::client_cache`).

use anyhow::bail;
use clap::Args;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::read_stdin_line;
use crate::admin::{self, ClientUpdate};
use crate::audit;
use crate::config::Config;
use crate::jws::Algorithm;
use crate::revocation::{self, Initiator, Revoker};
use crate::store::clients::{self, Client};
use crate::store::users::{self, User};

/// `client update ID`: each option given replaces that setting.
#[derive(Args)]
pub struct ClientUpdateArgs {
    pub id: String,
    /// Replaces every redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Option<Vec<String>>,
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[arg(long = "scope")]
    pub scopes: Option<Vec<String>>,
    #[arg(long = "grant-type")]
    pub grant_types: Option<Vec<String>>,
    /// true or false.
    #[arg(long)]
    pub first_party: Option<bool>,
    #[arg(long)]
    pub require_pkce: Option<bool>,
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// opaque or jwt.
    #[arg(long)]
    pub access_token_format: Option<String>,
    /// An empty value removes it.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// An empty value removes it.
    #[arg(long)]
    pub frontchannel_logout_uri: Option<String>,
    #[arg(long = "audience")]
    pub audiences: Option<Vec<String>>,
    #[arg(long = "introspect", value_name = "AUDIENCE")]
    pub introspect_audiences: Option<Vec<String>>,
    /// A duration (e.g. 5m), or `default` for tokens.access_token_ttl.
    #[arg(long)]
    pub access_token_ttl: Option<String>,
    #[arg(long)]
    pub refresh_token_idle_ttl: Option<String>,
    #[arg(long)]
    pub refresh_token_absolute_ttl: Option<String>,
    /// session_tokens or nothing.
    #[arg(long)]
    pub logout_revokes: Option<String>,
    #[arg(long)]
    pub keep_offline_tokens: Option<bool>,
    /// true: refuse token requests without a DPoP proof (RFC 9449 §5.2).
    #[arg(long)]
    pub dpop_bound: Option<bool>,
    /// true: accept authorization requests only through /par (RFC 9126 §6).
    #[arg(long)]
    pub require_par: Option<bool>,
}

fn lifetime(value: Option<String>) -> anyhow::Result<Option<Option<i64>>> {
    Ok(match value.as_deref() {
        None => None,
        Some("default") => Some(None),
        Some(v) => Some(Some(humantime::parse_duration(v)?.as_secs() as i64)),
    })
}

fn optional_uri(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| Some(v).filter(|v| !v.is_empty()))
}

pub async fn update_client(
    db: &DatabaseConnection,
    config: &Config,
    now: i64,
    a: ClientUpdateArgs,
) -> anyhow::Result<()> {
    if let Some(alg) = &a.id_token_alg
        && let Some(parsed) = Algorithm::parse(alg)
        && !config.keys.enabled_algorithms().contains(&parsed)
    {
        bail!("id token algorithm {alg} is not enabled (keys.algorithms)");
    }
    let update = ClientUpdate {
        redirect_uris: a.redirect_uris,
        post_logout_redirect_uris: a.post_logout_redirect_uris,
        scopes: a.scopes,
        grant_types: a.grant_types,
        first_party: a.first_party,
        require_pkce: a.require_pkce,
        id_token_alg: a.id_token_alg,
        access_token_format: a.access_token_format,
        backchannel_logout_uri: optional_uri(a.backchannel_logout_uri),
        frontchannel_logout_uri: optional_uri(a.frontchannel_logout_uri),
        audiences: a.audiences,
        access_token_ttl: lifetime(a.access_token_ttl)?,
        refresh_token_idle_ttl: lifetime(a.refresh_token_idle_ttl)?,
        refresh_token_absolute_ttl: lifetime(a.refresh_token_absolute_ttl)?,
        logout_revokes: a.logout_revokes,
        keep_offline_tokens: a.keep_offline_tokens,
        introspect_audiences: a.introspect_audiences,
        dpop_bound_access_tokens: a.dpop_bound,
        require_pushed_authorization_requests: a.require_par,
    };
    let rng = crate::random::OsRandom;
    let rev = Revoker::new(db, config, &rng, now);
    let client = admin::update_client(&rev, &a.id, update).await?;
    admin_event(db, now, "client_updated", &client.id).await;
    println!("client {} updated", client.id);
    Ok(())
}

pub async fn rotate_secret(rev: &Revoker<'_>, id: &str, secret_stdin: bool) -> anyhow::Result<()> {
    let chosen = if secret_stdin {
        Some(read_stdin_line("the client secret")?)
    } else {
        None
    };
    let secret = admin::rotate_secret(rev, id, chosen).await?;
    admin_event(rev.db(), rev.now(), "client_secret_rotated", id).await;
    if secret_stdin {
        println!("client {id}: new secret set; the old one no longer authenticates");
    } else {
        // Shown once: only its hash is stored.
        println!("{secret}");
        eprintln!(
            "client {id}: new secret above (shown once); the old one no longer authenticates"
        );
    }
    Ok(())
}

/// An administrative change that is not a revocation (those are audited
/// with their revocation event).
pub async fn admin_event(db: &DatabaseConnection, now: i64, action: &'static str, subject: &str) {
    let entry = audit::Entry {
        actor: "admin",
        action,
        subject: Some(subject.to_owned()),
        client_id: action.starts_with("client_").then(|| subject.to_owned()),
        outcome: "success",
        ..audit::Entry::default()
    };
    audit::record(db, now, entry).await;
}

fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id,
        "type": if c.is_public() { "public" } else { "confidential" },
        "disabled": c.disabled,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "scope": c.scopes.tokens().join(" "),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "first_party": c.first_party,
        "require_pkce": c.pkce_required(),
        "id_token_signed_response_alg": c.id_token_alg.as_str(),
        "access_token_format": c.access_token_format.as_str(),
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "frontchannel_logout_uri": c.frontchannel_logout_uri,
        "audiences": c.audiences,
        "introspect_audiences": c.introspect_audiences,
        "access_token_ttl": c.access_token_ttl,
        "refresh_token_idle_ttl": c.refresh_token_idle_ttl,
        "refresh_token_absolute_ttl": c.refresh_token_absolute_ttl,
        "logout_revokes": c.logout_revokes.as_str(),
        "keep_offline_tokens": c.keep_offline_tokens,
        "created_at": c.created_at,
    })
}

fn kind(c: &Client) -> &'static str {
    if c.is_public() {
        "public"
    } else {
        "confidential"
    }
}

pub async fn list_clients(db: &DatabaseConnection, json: bool) -> anyhow::Result<()> {
    let all = clients::list(db).await?;
    if json {
        let list: Vec<Value> = all.iter().map(client_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for c in all {
        println!(
            "{}\t{}{}\tgrants={}\tredirect_uris={}",
            c.id,
            kind(&c),
            if c.disabled { ",disabled" } else { "" },
            c.grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(","),
            c.redirect_uris.join(",")
        );
    }
    Ok(())
}

pub async fn show_client(db: &DatabaseConnection, id: &str, json: bool) -> anyhow::Result<()> {
    let Some(c) = clients::find(db, id).await? else {
        bail!("no client {id}");
    };
    print_object(client_json(&c), json)
}

fn user_json(u: &User) -> Value {
    // Never the password hash.
    json!({
        "username": u.username,
        "sub": u.id,
        "disabled": u.disabled,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "phone_number": u.phone_number,
        "address": u.address,
        "updated_at": u.updated_at,
    })
}

pub async fn list_users(db: &DatabaseConnection, json: bool) -> anyhow::Result<()> {
    let all = users::list(db).await?;
    if json {
        let list: Vec<Value> = all.iter().map(user_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for u in all {
        println!(
            "{}\t{}\t{}\t{}",
            u.username,
            u.id,
            u.email.as_deref().unwrap_or("-"),
            if u.disabled { "disabled" } else { "active" }
        );
    }
    Ok(())
}

pub async fn show_user(db: &DatabaseConnection, username: &str, json: bool) -> anyhow::Result<()> {
    let Some(u) = users::find_by_username(db, username).await? else {
        bail!("no user {username}");
    };
    print_object(user_json(&u), json)
}

/// `--json`: the object; otherwise one `key: value` line per field.
fn print_object(object: Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&object)?);
        return Ok(());
    }
    if let Value::Object(map) = object {
        for (key, value) in map {
            let shown = match value {
                Value::Null => "-".to_owned(),
                Value::String(s) => s,
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            println!("{key}: {shown}");
        }
    }
    Ok(())
}

/// `user set-password NAME --password-stdin`: the new password counts at
/// once; every session of the user ends and what the old password obtained
/// dies, on every instance (through the revocation log).
pub async fn set_password(rev: &Revoker<'_>, username: &str) -> anyhow::Result<()> {
    let Some(user) = users::find_by_username(rev.db(), username).await? else {
        bail!("no user {username}");
    };
    let password = read_stdin_line("the password")?;
    if password.len() < 8 {
        bail!("password must be at least 8 characters");
    }
    let hash = crate::secrets::hash_password(&password, &crate::random::OsRandom)?;
    let Some(done) = revocation::set_password(rev, &user.id, &hash, Initiator::Admin).await? else {
        bail!("no user {username}");
    };
    println!(
        "user {username}: password changed; every session ended ({}) and earlier tokens are void",
        done.ended.len()
    );
    Ok(())
}
