//! Operator commands: `audit list`, `config check`, `backup`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use serde_json::{Value, json};

use crate::config::Config;
use crate::store::audit::{self, AuditRecord};
use crate::store::users;

/// Most events one `audit list` prints.
pub const MAX_AUDIT_LIMIT: u64 = 10_000;

/// `--since`: a duration back from `now` (`2h`, `7d`) or an RFC 3339 instant.
pub fn parse_since(value: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(d) = humantime::parse_duration(value) {
        return Ok(now - d.as_secs() as i64);
    }
    let at = humantime::parse_rfc3339_weak(value).with_context(|| {
        format!("--since {value}: neither a duration (e.g. 24h) nor an RFC 3339 time")
    })?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64))
}

pub async fn audit_list(
    db: &DatabaseConnection,
    user: Option<&str>,
    since: Option<i64>,
    limit: u64,
    json_out: bool,
) -> anyhow::Result<()> {
    let limit = limit.clamp(1, MAX_AUDIT_LIMIT);
    let subjects = match user {
        None => None,
        Some(name) => match users::find_by_username(db, name).await? {
            Some(u) => Some(vec![u.id]),
            None => bail!("no user {name}"),
        },
    };
    let events = audit::list(db, subjects.as_deref(), since, limit).await?;
    // Subjects that are user ids are shown with their username.
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for e in &events {
        if let Some(s) = &e.subject
            && !names.contains_key(s)
        {
            let name = users::find(db, s).await?.map(|u| u.username);
            names.insert(s.clone(), name);
        }
    }
    let username = |e: &AuditRecord| {
        e.subject
            .as_ref()
            .and_then(|s| names.get(s).cloned().flatten())
    };
    if json_out {
        let list: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "time": crate::keys::rotation::at(e.time),
                    "actor": e.actor,
                    "action": e.action,
                    "subject": e.subject,
                    "username": username(e),
                    "client_id": e.client_id,
                    "address": e.address,
                    "outcome": e.outcome,
                    "detail": e.detail,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for e in &events {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let subject = match (username(e), &e.subject) {
            (Some(name), Some(id)) => format!("{name} ({id})"),
            (_, s) => dash(s),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\tclient={}\taddress={}\t{}",
            crate::keys::rotation::at(e.time),
            e.actor,
            e.action,
            e.outcome,
            subject,
            dash(&e.client_id),
            dash(&e.address),
            dash(&e.detail)
        );
    }
    Ok(())
}

/// `config check`: the settings as they are in effect (file, environment,
/// defaults), secrets replaced. The configuration was loaded and validated
/// before this runs; the master key file must also be readable.
pub fn config_check(config: &Config) -> anyhow::Result<()> {
    if config.keys.has_master_key() {
        crate::keys::master_keys(&config.keys).context("keys.master_key_file")?;
    }
    let mut settings = serde_json::to_value(config)?;
    settings["database_url"] = json!(config.database_url_redacted());
    if config.keys.master_key.is_some() {
        settings["keys"]["master_key"] = json!("REDACTED");
    }
    println!("{}", serde_json::to_string_pretty(&settings)?);
    eprintln!("configuration is valid");
    Ok(())
}

/// `backup FILE`: a consistent copy of a live SQLite database (`VACUUM
/// INTO` reads one snapshot while the server keeps writing). PostgreSQL has
/// its own tools.
pub async fn backup(db: &DatabaseConnection, file: &Path) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        bail!(
            "signoff backup copies SQLite databases only; back up PostgreSQL with pg_dump \
             (e.g. pg_dump --format=custom --file=signoff.dump DBNAME)"
        );
    }
    if file.exists() {
        bail!("{} exists already; choose a new file", file.display());
    }
    let path = file
        .to_str()
        .context("the backup path must be valid UTF-8")?;
    // A string literal: quotes doubled (SQLite §lang_expr).
    let literal = format!("'{}'", path.replace('\'', "''"));
    db.execute_unprepared(&format!("VACUUM INTO {literal}"))
        .await
        .with_context(|| format!("backing up to {}", file.display()))?;
    println!("database copied to {}", file.display());
    Ok(())
}
