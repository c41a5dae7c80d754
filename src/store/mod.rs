//! Storage: one code path for SQLite and PostgreSQL through sea-orm. Each file
//! holds the repository for one protocol object; functions are protocol
//! transitions (issue, consume, revoke) and return domain types.

pub mod clients;
pub mod consents;
pub mod entity;
pub mod grants;
pub mod interactions;
pub mod keys;
pub mod logout_outbox;
pub mod pushed_requests;
pub mod replay;
pub mod revocation_log;
pub mod sessions;
pub mod users;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use signoff_migrations::{Migrator, MigratorTrait};

pub use sea_orm::{DatabaseConnection as Db, DbErr as StoreError};

/// Open the database named by `url`. SQLite runs in WAL mode with
/// `synchronous=NORMAL`: a commit survives a crash of the process (the
/// durability the token endpoint promises) while readers never block writers.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // SQLite allows one writer at a time; a small pool avoids piling up
        // writers that then wait on the busy timeout.
        options.max_connections(8).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(32).min_connections(1);
    }
    Database::connect(options).await
}

/// Begin a transaction that will write. On SQLite it takes the write lock at
/// `BEGIN IMMEDIATE` (waiting up to the busy timeout): a transaction that
/// reads first and writes later cannot be upgraded once another writer has
/// committed, and fails with "database is locked" instead of waiting.
/// PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// JSON array in a TEXT column → list; a corrupt value reads as empty.
pub(crate) fn list_from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn list_to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}
