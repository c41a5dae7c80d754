//! Group commit: the writes of many concurrent requests in one transaction,
//! each request answered only after that transaction committed (issue 16:
//! durable means a token the client received survives `kill -9`).
//!
//! One task owns the write path. A request submits a job (an async closure
//! over the transaction); the task takes everything queued (at most
//! [`MAX_BATCH`] jobs, never waiting for more: a batch forms while the
//! previous one commits), runs each job in a savepoint of its own so that a
//! failing job rolls back only its own writes, commits once, and then
//! answers every caller. On SQLite this replaces eight pooled writers
//! contending for the lock through a sleeping busy handler; on PostgreSQL it
//! shares one WAL flush among the batch. A failed commit fails every job of
//! the batch with that error (`store::is_unavailable` still classifies it).

use std::future::Future;
use std::pin::Pin;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

/// Jobs per transaction: bounds the work one commit waits for.
pub const MAX_BATCH: usize = 64;
/// Jobs waiting for the committer; further submitters wait for room
/// (backpressure, bounded memory).
pub const QUEUE: usize = 1024;

pub type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// Runs in the committer once the batch is durable, before the caller is
/// answered (e.g. applying revocation events to this instance's view).
pub type AfterCommit = Box<dyn FnOnce() + Send>;

/// What a job left to do once its batch's fate is known.
type Completion = Box<dyn FnOnce(Result<(), &DbErr>) + Send>;

/// A job as the committer runs it: true when its writes are to be kept.
type Job =
    Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, (bool, Completion)> + Send>;

/// The handle requests submit through; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Start the committer over `db`. It stops when every handle is dropped.
    pub fn spawn(db: DatabaseConnection) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, jobs));
        GroupCommit { queue }
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
        let job: Job = Box::new(move |txn| {
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
        self.queue
            .send(job)
            .await
            .map_err(|_| unavailable("the group committer has stopped"))?;
        answered
            .await
            .map_err(|_| unavailable("the group committer dropped a job"))?
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

async fn run(db: DatabaseConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Each batch in a task of its own: a job that panics takes down its
        // batch (its transaction rolls back when dropped, its callers get
        // 503), never the committer, so later writes still go through.
        let db = db.clone();
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        if let Err(e) = tokio::spawn(async move { commit_batch(&db, jobs).await }).await {
            tracing::error!(error = %e, "a group-committed batch panicked; its writes were rolled back");
        }
    }
}

async fn commit_batch(db: &DatabaseConnection, batch: Vec<Job>) {
    let alone = batch.len() == 1;
    let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
    let outcome = async {
        let txn = super::begin_write(db).await?;
        let mut kept = 0;
        for job in batch {
            if alone {
                // No other job to protect: no savepoint; a failed job's
                // writes go with the rolled-back transaction.
                let (keep, completion) = job(&txn).await;
                done.push(completion);
                kept += usize::from(keep);
                continue;
            }
            let savepoint = txn.begin().await?;
            let (keep, completion) = job(&savepoint).await;
            done.push(completion);
            if keep {
                savepoint.commit().await?;
                kept += 1;
            } else {
                savepoint.rollback().await?;
            }
        }
        if kept > 0 {
            txn.commit().await?;
        }
        Ok::<(), DbErr>(())
    }
    .await;
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, jobs = done.len(), "group commit failed");
    }
    let commit = outcome.as_ref().map(|_| ());
    for completion in done {
        completion(commit);
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
}
