//! Storage: one code path for SQLite and PostgreSQL through sea-orm. Each file
//! holds the repository for one protocol object; functions are protocol
//! transitions (issue, consume, revoke) and return domain types.

pub mod audit;
pub mod client_cache;
pub mod clients;
pub mod consents;
pub mod device_codes;
pub mod entity;
pub mod grants;
pub mod group_commit;
pub mod interactions;
pub mod keys;
pub mod logout_outbox;
pub mod pushed_requests;
pub mod replay;
pub mod revocation_log;
pub mod sessions;
pub mod ssf_streams;
pub mod token_cache;
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
/// durability the token endpoint promises: "Transactions are durable across
/// application crashes regardless of the synchronous setting or journal
/// mode", <https://www.sqlite.org/pragma.html#pragma_synchronous>), though
/// not necessarily a power loss or OS crash (that would take `FULL`, an
/// fsync per commit; docs/design.md, "Group commit"), while readers never
/// block writers.
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

/// Count every statement `db` runs from now on (its clones share the
/// count): how the hot paths are measured (docs/design.md, "Statements per
/// request") and held to their budget in tests.
pub fn count_statements(
    db: &mut DatabaseConnection,
) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = count.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    count
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

/// The connection pool's size and idle connections (metrics).
pub fn pool_usage(db: &DatabaseConnection) -> Option<(u32, usize)> {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle()))
        }
        sea_orm::DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle()))
        }
        _ => None,
    }
}

/// How many migrations this build knows that the database has not applied
/// (without creating the migrations table).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.len())
}

/// Whether `err` means the database cannot be reached right now (the pool
/// has no connection, the connection broke, the server is shutting down or
/// refusing connections, SQLite is busy) rather than a fault in the query:
/// such a request may succeed when retried, and is answered 503.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx};
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_err.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL (Appendix A): class 08 connection exception, 57P01-03
            // shutting down / cannot connect now, 53300 too many
            // connections. SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED.
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "5" | "6"
                )
        }),
        _ => false,
    }
}

/// [`is_unavailable`] for an error that may wrap a `DbErr`.
pub fn is_unavailable_any(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<DbErr>())
        .any(is_unavailable)
}

/// JSON array in a TEXT column → list; a corrupt value reads as empty.
pub(crate) fn list_from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn list_to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}
