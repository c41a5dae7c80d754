//! Schema migrations for Signoff. One set serves SQLite and PostgreSQL: every
//! table is described through `SchemaManager`, never in dialect-specific SQL.
//!
//! Conventions: instants are `BIGINT` Unix seconds (the clock is injected, so
//! the database never decides what "now" is); lists are JSON arrays in `TEXT`;
//! secrets (passwords, client secrets, codes, tokens, session cookies) are
//! stored only as hashes.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_init;
mod m20261121_000002_token_lifecycle;
mod m20261121_000003_signing_keys;
mod m20261121_000004_logout;
mod m20261121_000005_user_contact_and_expiry;
mod m20261201_000001_revocation_log;
mod m20261202_000001_introspection_policy;
mod m20261202_000002_audit_events;
mod m20261202_000010_pushed_requests;
mod m20261202_000010_ssf_streams;
mod m20261202_000011_client_keys;
mod m20261203_000001_replay_guard;
mod m20261203_000002_dpop;
mod m20261205_000001_ssf_subjects;
mod m20261206_000001_device_codes;
mod m20261207_000001_prune_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_init::Migration),
            Box::new(m20261121_000002_token_lifecycle::Migration),
            Box::new(m20261121_000003_signing_keys::Migration),
            Box::new(m20261121_000004_logout::Migration),
            Box::new(m20261121_000005_user_contact_and_expiry::Migration),
            Box::new(m20261201_000001_revocation_log::Migration),
            Box::new(m20261202_000001_introspection_policy::Migration),
            Box::new(m20261202_000002_audit_events::Migration),
            Box::new(m20261202_000010_pushed_requests::Migration),
            Box::new(m20261202_000010_ssf_streams::Migration),
            Box::new(m20261202_000011_client_keys::Migration),
            Box::new(m20261203_000001_replay_guard::Migration),
            Box::new(m20261203_000002_dpop::Migration),
            Box::new(m20261205_000001_ssf_subjects::Migration),
            Box::new(m20261206_000001_device_codes::Migration),
            Box::new(m20261207_000001_prune_indexes::Migration),
        ]
    }
}
