//! Group commit: the writes of many concurrent requests in one transaction,
//! each request answered only after that transaction committed (issue 16:
//! durable means a token the client received survives `kill -9`).
//!
//! One task owns the write path. A request submits a job; the task takes
//! everything queued (at most [`MAX_BATCH`] jobs, never waiting for more: a
//! batch forms while the previous one commits), commits once, and then
//! answers every caller. A failing job never fails the others:
//!
//! - **Rows** (an opaque access token row, the whole of a client_credentials
//!   write) go first, in a few multi-row `INSERT`s for the whole batch
//!   ([`grants::insert_access_tokens`]). Should that fail (a row that breaks a
//!   constraint), the transaction — which holds nothing else yet — is rolled
//!   back and begun again, and the rows go in one by one, each in a
//!   savepoint, so only the failing row's caller gets the error.
//! - **Runs** (an async closure over the transaction: refresh rotation,
//!   revocation) each run in a savepoint, so that a failing run rolls back
//!   its own writes only. One savepoint name serves every run: releasing it
//!   and opening the next is one round trip (`RELEASE …; SAVEPOINT …` in one
//!   simple query), and a failed run's `ROLLBACK TO` leaves it open for the
//!   next. A lone job needs none.
//!
//! On PostgreSQL every statement is a network round trip the single
//! committer waits for, so a batch of n client_credentials rows costs
//! `BEGIN`, one to seven `INSERT`s and `COMMIT` instead of 3n + 2 round trips
//! (docs/design.md, "Group commit"). On SQLite it replaces eight pooled
//! writers contending for the lock through a sleeping busy handler. A failed
//! commit fails every job of the batch with that error
//! (`store::is_unavailable` still classifies it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::grants::{self, AccessTokenRecord};

/// Jobs per transaction: bounds the work one commit waits for.
pub const MAX_BATCH: usize = 64;
/// Batches committing at once on PostgreSQL, each on a connection of its
/// own (docs/design.md, "Group commit"). SQLite has one writer: a second
/// batch would only wait for the lock, so there it is one.
pub const IN_FLIGHT_POSTGRES: usize = 1;
/// Jobs waiting for the committer; further submitters wait for room
/// (backpressure, bounded memory).
pub const QUEUE: usize = 1024;

pub type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// Runs in the committer once the batch is durable, before the caller is
/// answered (e.g. applying revocation events to this instance's view).
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// What a run left to do once its batch's fate is known.
type Completion = Box<dyn FnOnce(Result<(), &DbErr>) + Send>;

/// A run as the committer runs it: true when its writes are to be kept.
type Run =
    Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, (bool, Completion)> + Send>;

enum Job {
    /// An access token row to insert, and its caller (boxed: a row is ~250
    /// bytes, a run a pointer, and the queue holds 1,024 jobs).
    Row(Box<AccessTokenRecord>, oneshot::Sender<Result<(), DbErr>>),
    Run(Run),
}

/// The handle requests submit through; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Start the committer over `db`. It stops when every handle is dropped.
    pub fn spawn(db: DatabaseConnection) -> Self {
        let in_flight = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => IN_FLIGHT_POSTGRES,
            _ => 1,
        };
        Self::spawn_with(db, in_flight)
    }

    /// [`GroupCommit::spawn`] with at most `in_flight` batches at once.
    pub fn spawn_with(db: DatabaseConnection, in_flight: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs, in_flight));
        GroupCommit { queue }
    }

    /// Insert an access token row in the next batch; `Ok` once committed.
    pub async fn insert_access_token(&self, row: AccessTokenRecord) -> Result<(), DbErr> {
        let (answer, answered) = oneshot::channel();
        self.submit(Job::Row(Box::new(row), answer)).await?;
        answered
            .await
            .map_err(|_| unavailable("the group committer dropped a job"))?
    }

    /// Run `job` in the next batch; its result once the batch committed.
    /// An `Err` from the job rolls back the job's own writes only.
    pub async fn run<T, F>(&self, job: F) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, DbErr>>
            + Send
            + 'static,
    {
        self.run_then(move |txn| {
            Box::pin(async move { job(txn).await.map(|v| (v, None)) })
                as BoxFuture<'_, Result<(T, Option<AfterCommit>), DbErr>>
        })
        .await
    }

    /// [`GroupCommit::run`] for a job with something to do after its commit
    /// (run by the committer, so it happens even if the caller went away).
    pub async fn run_then<T, F>(&self, job: F) -> Result<T, DbErr>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(
                &'t DatabaseTransaction,
            ) -> BoxFuture<'t, Result<(T, Option<AfterCommit>), DbErr>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let run: Run = Box::new(move |txn| {
            Box::pin(async move {
                let out = job(txn).await;
                let keep = out.is_ok();
                let completion: Completion = Box::new(move |commit| {
                    let result = match (commit, out) {
                        (Ok(()), Ok((value, after))) => {
                            if let Some(after) = after {
                                after();
                            }
                            Ok(value)
                        }
                        (Ok(()), Err(e)) => Err(e),
                        (Err(e), _) => Err(copy_error(e)),
                    };
                    // The caller may have gone (client disconnected): the
                    // writes are committed all the same.
                    let _ = answer.send(result);
                });
                (keep, completion)
            })
        });
        self.submit(Job::Run(run)).await?;
        answered
            .await
            .map_err(|_| unavailable("the group committer dropped a job"))?
    }

    /// Jobs waiting for a batch (tests use it to fill one).
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    async fn submit(&self, job: Job) -> Result<(), DbErr> {
        self.queue
            .send(job)
            .await
            .map_err(|_| unavailable("the group committer has stopped"))
    }
}

fn unavailable(why: &str) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(why.into()))
}

/// The batch's error for each of its callers (`DbErr` is not `Clone`),
/// keeping whether the database was unavailable (503) or not (500).
fn copy_error(e: &DbErr) -> DbErr {
    if super::is_unavailable(e) {
        unavailable(&format!("group commit failed: {e}"))
    } else {
        DbErr::Custom(format!("group commit failed: {e}"))
    }
}

async fn run(db: DatabaseConnection, mut jobs: mpsc::Receiver<Job>, in_flight: usize) {
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // A free slot first: while every slot is busy, jobs queue up into
        // the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let db = db.clone();
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        tokio::spawn(async move {
            // Each batch in a task of its own: a job that panics takes down
            // its batch (its transaction rolls back when dropped, its
            // callers get 503), never the committer, so later writes still
            // go through.
            if let Err(e) = tokio::spawn(async move { commit_batch(&db, jobs).await }).await {
                tracing::error!(error = %e, "a group-committed batch panicked; its writes were rolled back");
            }
            drop(slot);
        });
    }
}

/// The one savepoint of a batch (see the module documentation).
const SAVEPOINT: &str = "SAVEPOINT group_job";
/// Keep the last job's writes and open the next job's savepoint: one round trip.
const NEXT: &str = "RELEASE SAVEPOINT group_job; SAVEPOINT group_job";
/// Undo the last job's writes; the savepoint stays open for the next job.
const UNDO: &str = "ROLLBACK TO SAVEPOINT group_job";

async fn commit_batch(db: &DatabaseConnection, batch: Vec<Job>) {
    let mut rows = Vec::new();
    let mut answers = Vec::new();
    let mut runs = Vec::new();
    for job in batch {
        match job {
            Job::Row(row, answer) => {
                rows.push(*row);
                answers.push(answer);
            }
            Job::Run(run) => runs.push(run),
        }
    }
    // Each row's own outcome, before the commit decides for all.
    let mut inserted: Vec<Result<(), DbErr>> = Vec::new();
    let mut done: Vec<Completion> = Vec::with_capacity(runs.len());
    let outcome = async {
        let mut txn = super::begin_write(db).await?;
        let mut one_by_one = false;
        if !rows.is_empty() {
            match grants::insert_access_tokens(&txn, &rows).await {
                Ok(()) => inserted.extend(rows.iter().map(|_| Ok(()))),
                Err(e) if super::is_unavailable(&e) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, rows = rows.len(), "a batch's token rows failed together; inserting them one by one");
                    txn.rollback().await?;
                    txn = super::begin_write(db).await?;
                    one_by_one = true;
                }
            }
        }
        let guarded = if one_by_one { rows.len() } else { 0 } + runs.len();
        // A lone job needs no savepoint: its failure leaves nothing to keep.
        let alone = guarded == 1 && (one_by_one || rows.is_empty());
        let mut savepoint = Savepoint::new(!alone);
        let mut kept = inserted.len();
        if one_by_one {
            for row in rows.iter().cloned() {
                savepoint.enter(&txn).await?;
                let result = grants::insert_access_token(&txn, row).await;
                savepoint.leave(&txn, result.is_ok()).await?;
                kept += usize::from(result.is_ok());
                inserted.push(result);
            }
        }
        for run in runs {
            savepoint.enter(&txn).await?;
            let (keep, completion) = run(&txn).await;
            done.push(completion);
            savepoint.leave(&txn, keep).await?;
            kept += usize::from(keep);
        }
        if kept > 0 {
            txn.commit().await?;
        }
        Ok::<(), DbErr>(())
    }
    .await;
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, jobs = answers.len() + done.len(), "group commit failed");
    }
    let commit = outcome.as_ref().map(|_| ());
    let mut inserted = inserted.into_iter();
    for answer in answers {
        let result = match (commit, inserted.next()) {
            (Ok(()), Some(row)) => row,
            (Ok(()), None) => Err(unavailable("the group committer lost a row")),
            (Err(e), _) => Err(copy_error(e)),
        };
        let _ = answer.send(result);
    }
    for completion in done {
        completion(commit);
    }
}

/// The batch's one savepoint, reused from job to job: a job's writes are
/// kept by releasing it and opening the next in one round trip, undone by
/// rolling back to it (which leaves it open). The last job's savepoint is
/// simply committed with the transaction.
struct Savepoint {
    /// False for a lone job, which needs none.
    used: bool,
    /// Open, and holding no kept writes (so the next job can start in it).
    ready: bool,
    /// A job's writes are in it and were kept: release before the next.
    holds: bool,
}

impl Savepoint {
    fn new(used: bool) -> Self {
        Savepoint {
            used,
            ready: false,
            holds: false,
        }
    }

    /// Before a job: make sure an empty savepoint is open.
    async fn enter(&mut self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        if !self.used || self.ready {
            return Ok(());
        }
        txn.execute_unprepared(if self.holds { NEXT } else { SAVEPOINT })
            .await?;
        self.ready = true;
        self.holds = false;
        Ok(())
    }

    /// After a job: keep its writes (released lazily, by the next `enter`
    /// or the commit) or undo them now.
    async fn leave(&mut self, txn: &DatabaseTransaction, keep: bool) -> Result<(), DbErr> {
        if !self.used {
            return Ok(());
        }
        if keep {
            self.ready = false;
            self.holds = true;
        } else {
            txn.execute_unprepared(UNDO).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::ConnectionTrait;

    use super::*;

    async fn ids(db: &DatabaseConnection) -> Vec<i64> {
        db.query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM t ORDER BY id",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index(0).unwrap())
        .collect()
    }

    async fn insert(txn: &DatabaseTransaction, id: i64) -> Result<(), DbErr> {
        txn.execute_unprepared(&format!("INSERT INTO t (id) VALUES ({id})"))
            .await
            .map(|_| ())
    }

    /// A job failing halfway in a batch leaves none of its own writes and
    /// all of the others'; each caller gets its own result.
    #[tokio::test]
    async fn a_failing_job_rolls_back_only_its_own_writes() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let commits = GroupCommit::spawn(db.clone());
        // Hold the committer so that the next jobs queue up into one batch.
        let holder = commits.clone();
        let hold = tokio::spawn(async move {
            holder
                .run(|txn| {
                    Box::pin(async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        insert(txn, 1).await
                    })
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let job = |ids: &'static [i64]| {
            let commits = commits.clone();
            tokio::spawn(async move {
                commits
                    .run(move |txn| {
                        Box::pin(async move {
                            for id in ids {
                                insert(txn, *id).await?;
                            }
                            Ok(())
                        })
                    })
                    .await
            })
        };
        let good = job(&[2, 3]);
        let bad = job(&[100, 100]);
        let also_good = job(&[4]);
        assert!(hold.await.unwrap().is_ok());
        assert!(good.await.unwrap().is_ok());
        assert!(bad.await.unwrap().is_err());
        assert!(also_good.await.unwrap().is_ok());
        let ids = ids(&db).await;
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    /// A job that panics fails its own caller (503-class error) and leaves
    /// the committer running for the next one.
    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_committer() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let commits = GroupCommit::spawn(db.clone());
        let panicked: Result<(), DbErr> = commits
            .run(|txn| {
                Box::pin(async move {
                    insert(txn, 1).await?;
                    panic!("a job that panics")
                })
            })
            .await;
        let err = panicked.expect_err("the panicking job's caller gets an error");
        assert!(crate::store::is_unavailable(&err), "{err}");
        commits
            .run(|txn| Box::pin(insert(txn, 2)))
            .await
            .expect("the committer still runs");
        let ids = ids(&db).await;
        assert_eq!(ids, [2], "the panicked job's row was rolled back");
    }

    fn token_row(hash: &str) -> AccessTokenRecord {
        AccessTokenRecord {
            token_hash: hash.into(),
            grant_id: None,
            client_id: "service".into(),
            user_id: None,
            session_id: None,
            scope: "api:read".into(),
            issued_at: 1,
            expires_at: i64::MAX,
            revoked_at: None,
            audience: "[]".into(),
            auth_time: None,
            user_version: 0,
            client_version: 0,
            jkt: None,
        }
    }

    /// Rows go in together; when one of them breaks a constraint, only its
    /// own caller gets the error: the others' rows, and the runs of the same
    /// batch, are committed.
    #[tokio::test]
    async fn a_failing_row_fails_only_its_own_caller() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(&url).await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let commits = GroupCommit::spawn(db.clone());
        grants::insert_access_token(&db, token_row("taken"))
            .await
            .unwrap();
        let holder = commits.clone();
        let hold = tokio::spawn(async move {
            holder
                .run(|txn| {
                    Box::pin(async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        insert(txn, 1).await
                    })
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let row = |hash: &'static str| {
            let commits = commits.clone();
            tokio::spawn(async move { commits.insert_access_token(token_row(hash)).await })
        };
        let a = row("a");
        let taken = row("taken");
        let b = row("b");
        let commits2 = commits.clone();
        let run = tokio::spawn(async move { commits2.run(|txn| Box::pin(insert(txn, 2))).await });
        assert!(hold.await.unwrap().is_ok());
        assert!(a.await.unwrap().is_ok());
        assert!(taken.await.unwrap().is_err());
        assert!(b.await.unwrap().is_ok());
        assert!(run.await.unwrap().is_ok());
        for hash in ["a", "b", "taken"] {
            assert!(
                grants::find_access_token(&db, hash)
                    .await
                    .unwrap()
                    .is_some(),
                "{hash}"
            );
        }
        assert_eq!(ids(&db).await, [1, 2]);
    }

    /// A batch of rows alone is committed whole.
    #[tokio::test]
    async fn rows_of_one_batch_commit_together() {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = crate::store::connect(&url).await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        let commits = GroupCommit::spawn(db.clone());
        let hashes: Vec<String> = (0..100).map(|i| format!("h{i}")).collect();
        let tasks: Vec<_> = hashes
            .iter()
            .map(|h| {
                let (commits, h) = (commits.clone(), h.clone());
                tokio::spawn(async move { commits.insert_access_token(token_row(&h)).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        for hash in &hashes {
            assert!(
                grants::find_access_token(&db, hash)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }
}
