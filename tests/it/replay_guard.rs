//! The one-time identifier store (`store::replay`) shared by DPoP proofs and
//! client assertions, on the test database (SQLite, or PostgreSQL when
//! SIGNOFF_TEST_DATABASE_URL is set).

use signoff::clock::Clock;
use signoff::store::replay;

use crate::common::*;

#[tokio::test]
async fn an_identifier_is_accepted_once_per_namespace() {
    let server = TestServer::start().await;
    let db = &server.state.db;
    let now = server.clock.now();
    assert!(
        replay::first_use(db, "dpop", "jti-1", now + 60)
            .await
            .unwrap()
    );
    assert!(
        !replay::first_use(db, "dpop", "jti-1", now + 60)
            .await
            .unwrap()
    );
    // Another namespace is another identifier.
    assert!(
        replay::first_use(db, "client_assertion", "jti-1", now + 60)
            .await
            .unwrap()
    );
    assert!(
        replay::first_use(db, "dpop", "jti-2", now + 60)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn of_concurrent_uses_of_one_identifier_exactly_one_is_first() {
    let server = TestServer::start().await;
    let now = server.clock.now();
    let uses = (0..8).map(|_| {
        let db = server.state.db.clone();
        tokio::spawn(async move { replay::first_use(&db, "dpop", "raced", now + 60).await })
    });
    let mut firsts = 0;
    for handle in uses {
        if handle.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

#[tokio::test]
async fn prune_removes_only_expired_identifiers_in_batches() {
    let server = TestServer::start().await;
    let db = &server.state.db;
    let now = server.clock.now();
    for i in 0..5 {
        assert!(
            replay::first_use(db, "dpop", &format!("old-{i}"), now - 1)
                .await
                .unwrap()
        );
    }
    assert!(
        replay::first_use(db, "dpop", "live", now + 60)
            .await
            .unwrap()
    );
    assert_eq!(replay::prune(db, now, 3).await.unwrap(), 3);
    assert_eq!(replay::prune(db, now, 3).await.unwrap(), 2);
    assert_eq!(replay::prune(db, now, 3).await.unwrap(), 0);
    // The live identifier is still refused; a pruned one is forgotten.
    assert!(
        !replay::first_use(db, "dpop", "live", now + 60)
            .await
            .unwrap()
    );
    assert!(
        replay::first_use(db, "dpop", "old-0", now + 60)
            .await
            .unwrap()
    );
}
