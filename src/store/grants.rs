//! Grants and what is issued under them. A grant is one authorization of a
//! client by a user (or by itself, for client_credentials); its codes, access
//! tokens and refresh tokens form one family that is revoked together.

use sea_orm::sea_query::{DynIden, Expr, ExprTrait, IntoIden, Query, UnionType};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use super::entity::{access_token, authorization_code, grant, refresh_token};

pub use access_token::Model as AccessTokenRecord;
pub use authorization_code::Model as CodeRecord;
pub use grant::Model as Grant;
pub use refresh_token::Model as RefreshTokenRecord;

pub async fn insert_grant(db: &impl ConnectionTrait, g: Grant) -> Result<(), DbErr> {
    grant::ActiveModel {
        id: Set(g.id),
        client_id: Set(g.client_id),
        user_id: Set(g.user_id),
        session_id: Set(g.session_id),
        scope: Set(g.scope),
        auth_time: Set(g.auth_time),
        created_at: Set(g.created_at),
        revoked_at: Set(g.revoked_at),
        user_version: Set(g.user_version),
        client_version: Set(g.client_version),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn find_grant(db: &impl ConnectionTrait, id: &str) -> Result<Option<Grant>, DbErr> {
    grant::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Revoke a grant and everything issued under it. Token rows are marked too,
/// so that a single-row lookup answers "is this token revoked?". Returns
/// false when the grant was unknown or revoked already. Only
/// `crate::revocation` revokes, recording why.
pub(crate) async fn revoke_grant(
    db: &impl ConnectionTrait,
    grant_id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let revoked = grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::Id.eq(grant_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1;
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::GrantId.eq(grant_id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::GrantId.eq(grant_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked)
}

/// Mark every grant and token of a client revoked (the client is being
/// removed): its rows then answer "revoked" on their own, whatever client is
/// registered under the same id later.
pub(crate) async fn revoke_all_of_client(
    db: &impl ConnectionTrait,
    client_id: &str,
    now: i64,
) -> Result<(), DbErr> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(now))
        .filter(grant::Column::ClientId.eq(client_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::ClientId.eq(client_id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::ClientId.eq(client_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Unrevoked grants made in an SSO session.
pub async fn of_session(db: &impl ConnectionTrait, session_id: &str) -> Result<Vec<Grant>, DbErr> {
    grant::Entity::find()
        .filter(grant::Column::SessionId.eq(session_id))
        .filter(grant::Column::RevokedAt.is_null())
        .all(db)
        .await
}

/// Let a grant outlive the session it was made in: its tokens no longer
/// follow the session's state (see tokens::validate).
pub(crate) async fn detach_from_session(
    db: &impl ConnectionTrait,
    grant_id: &str,
) -> Result<(), DbErr> {
    grant::Entity::update_many()
        .col_expr(
            grant::Column::SessionId,
            Expr::value(Option::<String>::None),
        )
        .filter(grant::Column::Id.eq(grant_id))
        .exec(db)
        .await?;
    access_token::Entity::update_many()
        .col_expr(
            access_token::Column::SessionId,
            Expr::value(Option::<String>::None),
        )
        .filter(access_token::Column::GrantId.eq(grant_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_code(db: &impl ConnectionTrait, c: CodeRecord) -> Result<(), DbErr> {
    authorization_code::ActiveModel {
        code_hash: Set(c.code_hash),
        grant_id: Set(c.grant_id),
        client_id: Set(c.client_id),
        redirect_uri: Set(c.redirect_uri),
        nonce: Set(c.nonce),
        code_challenge: Set(c.code_challenge),
        created_at: Set(c.created_at),
        expires_at: Set(c.expires_at),
        consumed_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A code by its hash, consumed or not: the token endpoint checks its owner
/// and its bindings before it consumes it.
pub async fn find_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
) -> Result<Option<CodeRecord>, DbErr> {
    authorization_code::Entity::find_by_id(code_hash.to_owned())
        .one(db)
        .await
}

/// What presenting a one-time value (code or refresh token) found.
#[derive(Debug)]
pub enum Redemption<T> {
    /// First use: the value is now consumed.
    First(T),
    /// The value had been used before: a replay.
    Replayed(T),
    Unknown,
}

/// Consume a code atomically: of two concurrent redemptions exactly one sees
/// `First` (the conditional UPDATE is the arbiter, not a prior read).
pub async fn consume_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
    now: i64,
) -> Result<Redemption<CodeRecord>, DbErr> {
    let first = take_code(db, code_hash, now).await?;
    let row = authorization_code::Entity::find_by_id(code_hash.to_owned())
        .one(db)
        .await?;
    Ok(match (first, row) {
        (true, Some(row)) => Redemption::First(row),
        (_, Some(row)) => Redemption::Replayed(row),
        (_, None) => Redemption::Unknown,
    })
}

/// Consume a code once, without reading it back: true for the one
/// redemption that took it (a caller that has the row already needs no more).
pub async fn take_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::ConsumedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(code_hash))
        .filter(authorization_code::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

fn access_token_model(t: AccessTokenRecord) -> access_token::ActiveModel {
    access_token::ActiveModel {
        token_hash: Set(t.token_hash),
        grant_id: Set(t.grant_id),
        client_id: Set(t.client_id),
        user_id: Set(t.user_id),
        session_id: Set(t.session_id),
        scope: Set(t.scope),
        issued_at: Set(t.issued_at),
        expires_at: Set(t.expires_at),
        revoked_at: Set(t.revoked_at),
        audience: Set(t.audience),
        auth_time: Set(t.auth_time),
        user_version: Set(t.user_version),
        client_version: Set(t.client_version),
        jkt: Set(t.jkt),
    }
}

pub async fn insert_access_token(
    db: &impl ConnectionTrait,
    t: AccessTokenRecord,
) -> Result<(), DbErr> {
    // Nothing to read back: no RETURNING (PostgreSQL) and no re-read.
    access_token::Entity::insert(access_token_model(t))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Largest number of rows in one multi-row `INSERT` of
/// [`insert_access_tokens`] (64 rows × 14 columns = 896 parameters, far below
/// SQLite's 32,766 and PostgreSQL's 65,535).
const ROWS_PER_INSERT: usize = 64;

/// Insert `rows` in as few statements as their count allows: chunks of 64,
/// 32, …, 1 rows (at most seven statements for a group commit's batch).
/// Sizes are powers of two so that any count reuses one of seven SQL texts:
/// sqlx prepares a statement once per connection and text (its statement
/// cache), and a new text costs PostgreSQL an extra round trip to prepare.
/// All or nothing: a failing row fails the statement (the group committer
/// then inserts the rows one by one, `store::group_commit`).
pub async fn insert_access_tokens(
    db: &impl ConnectionTrait,
    rows: &[AccessTokenRecord],
) -> Result<(), DbErr> {
    let mut rest = rows;
    while !rest.is_empty() {
        let n = (1usize << rest.len().ilog2()).min(ROWS_PER_INSERT);
        let (chunk, tail) = rest.split_at(n);
        access_token::Entity::insert_many(chunk.iter().cloned().map(access_token_model))
            .exec_without_returning(db)
            .await?;
        rest = tail;
    }
    Ok(())
}

pub async fn find_access_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<AccessTokenRecord>, DbErr> {
    access_token::Entity::find_by_id(token_hash.to_owned())
        .one(db)
        .await
}

pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    t: RefreshTokenRecord,
) -> Result<(), DbErr> {
    refresh_token::ActiveModel {
        token_hash: Set(t.token_hash),
        grant_id: Set(t.grant_id),
        client_id: Set(t.client_id),
        user_id: Set(t.user_id),
        scope: Set(t.scope),
        issued_at: Set(t.issued_at),
        expires_at: Set(t.expires_at),
        consumed_at: Set(None),
        revoked_at: Set(t.revoked_at),
        successor_hash: Set(None),
        successor_sealed: Set(None),
        user_version: Set(t.user_version),
        client_version: Set(t.client_version),
        jkt: Set(t.jkt),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Consume a refresh token atomically (rotation, RFC 9700 §4.14.2).
pub async fn consume_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<Redemption<RefreshTokenRecord>, DbErr> {
    let res = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::ConsumedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    let row = refresh_token::Entity::find_by_id(token_hash.to_owned())
        .one(db)
        .await?;
    Ok(match (res.rows_affected, row) {
        (1, Some(row)) => Redemption::First(row),
        (_, Some(row)) => Redemption::Replayed(row),
        (_, None) => Redemption::Unknown,
    })
}

/// Consume a refresh token for rotation in one statement, only while it,
/// and the grant it belongs to, are unconsumed and unrevoked (RFC 9700
/// §4.14.2). True: this caller consumed it. False: nothing changed; the
/// caller reads the row to tell unknown, replayed and revoked apart
/// ([`consume_refresh_token`] is the two-statement form). `successor`, the
/// hash and sealed response of what it is exchanged for, is recorded by the
/// same statement, so that a retry within the grace period gets the same
/// pair (see `tokens::refresh_token`).
pub async fn consume_live_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    grant_id: &str,
    now: i64,
    successor: Option<(&str, &str)>,
) -> Result<bool, DbErr> {
    let live_grant = Query::select()
        .column(grant::Column::Id)
        .from(grant::Entity)
        .and_where(grant::Column::Id.eq(grant_id))
        .and_where(grant::Column::RevokedAt.is_null())
        .to_owned();
    let mut update = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::ConsumedAt, Expr::value(now));
    if let Some((successor_hash, sealed)) = successor {
        update = update
            .col_expr(
                refresh_token::Column::SuccessorHash,
                Expr::value(successor_hash),
            )
            .col_expr(refresh_token::Column::SuccessorSealed, Expr::value(sealed));
    }
    let res = update
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::ConsumedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::GrantId.in_subquery(live_grant))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<RefreshTokenRecord>, DbErr> {
    refresh_token::Entity::find_by_id(token_hash.to_owned())
        .one(db)
        .await
}

/// An opaque token of either kind, as revocation needs it.
#[derive(Debug, PartialEq, Eq)]
pub enum AnyToken {
    Access {
        client_id: String,
        user_id: Option<String>,
        expires_at: i64,
    },
    Refresh {
        client_id: String,
        grant_id: String,
    },
}

/// The access and refresh tokens `token_hash` names (at most one of each;
/// in practice at most one at all), in one statement: revocation (RFC 7009
/// §2.1) searches both kinds, and an unknown token should cost one read.
pub async fn find_any_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Vec<AnyToken>, DbErr> {
    let (kind, grant_id) = ("kind", "grant_id");
    let mut query = Query::select()
        .expr_as(Expr::val("access"), kind)
        .column(access_token::Column::ClientId)
        .column(access_token::Column::UserId)
        .column(access_token::Column::ExpiresAt)
        .expr_as(Expr::col(access_token::Column::GrantId), grant_id)
        .from(access_token::Entity)
        .and_where(access_token::Column::TokenHash.eq(token_hash))
        .to_owned();
    query.union(
        UnionType::All,
        Query::select()
            .expr_as(Expr::val("refresh"), kind)
            .column(refresh_token::Column::ClientId)
            .column(refresh_token::Column::UserId)
            .column(refresh_token::Column::ExpiresAt)
            .expr_as(Expr::col(refresh_token::Column::GrantId), grant_id)
            .from(refresh_token::Entity)
            .and_where(refresh_token::Column::TokenHash.eq(token_hash))
            .to_owned(),
    );
    let rows = db.query_all(&query).await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let client_id: String = row.try_get("", "client_id")?;
        let grant: Option<String> = row.try_get("", grant_id)?;
        let user_id: Option<String> = row.try_get("", "user_id")?;
        let expires_at: i64 = row.try_get("", "expires_at")?;
        found.push(match (row.try_get::<String>("", kind)?.as_str(), grant) {
            ("refresh", Some(grant_id)) => AnyToken::Refresh {
                client_id,
                grant_id,
            },
            _ => AnyToken::Access {
                client_id,
                user_id,
                expires_at,
            },
        });
    }
    Ok(found)
}

/// Returns false when the token was unknown or revoked already. Only
/// `crate::revocation` revokes, recording why.
pub(crate) async fn revoke_access_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::TokenHash.eq(token_hash))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Rows deleted per table and statement when pruning: no single statement
/// holds SQLite's write lock for long (`crate::maintenance` repeats a bounded
/// number of times).
pub const PRUNE_BATCH: u64 = 1000;

/// Delete at most `limit` rows of `E` whose `col` is below `before`, found
/// through the index on `col` (migration `m20261207_000001`).
async fn delete_batch<E: EntityTrait>(
    db: &impl ConnectionTrait,
    pk: E::Column,
    col: E::Column,
    before: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let batch = Query::select()
        .column(pk)
        .from(E::default())
        .and_where(col.lt(before))
        .limit(limit)
        .to_owned();
    Ok(E::delete_many()
        .filter(pk.in_subquery(batch))
        .exec(db)
        .await?
        .rows_affected)
}

/// Delete codes and tokens that expired before `before`, at most
/// [`PRUNE_BATCH`] of each per call: they can no longer be used, and an
/// unknown value is refused exactly like an expired one. Codes are kept an
/// hour longer so that a late replay still revokes its grant
/// (RFC 6749 §4.1.2).
pub async fn prune_expired(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    use authorization_code as c;
    use {access_token as a, refresh_token as r};
    let codes = delete_batch::<c::Entity>(
        db,
        c::Column::CodeHash,
        c::Column::ExpiresAt,
        before - 3600,
        PRUNE_BATCH,
    )
    .await?;
    let access = delete_batch::<a::Entity>(
        db,
        a::Column::TokenHash,
        a::Column::ExpiresAt,
        before,
        PRUNE_BATCH,
    )
    .await?;
    let refresh = delete_batch::<r::Entity>(
        db,
        r::Column::TokenHash,
        r::Column::ExpiresAt,
        before,
        PRUNE_BATCH,
    )
    .await?;
    Ok(codes + access + refresh)
}

/// Grants the empty-grant prune examines per call.
pub const PRUNE_WINDOW: u64 = 1000;

/// Delete the grants created before `before` under which nothing is left
/// (no code, access token or refresh token: all expired and pruned, or never
/// issued) among the next [`PRUNE_WINDOW`] grants in id order after `after`
/// (`None`: from the first). Such a grant authorizes nothing; revoking an
/// unknown grant is a no-op, and revocations already recorded live in the
/// log, not in the row. Returns how many went and where the next call goes
/// on (`None` once the window reached the last grant).
///
/// The window bounds what one call reads, not only what it deletes: a live
/// grant is never deleted, so a prune that looked for "the first 1000 empty
/// grants" read every grant of the table (and probed three indexes for each)
/// whenever fewer than 1000 were empty: 1.9 s at 100 k grants and 30.8 s at
/// 1 M, every minute (docs/design.md, "At 10 M tokens").
pub async fn prune_empty(
    db: &impl ConnectionTrait,
    before: i64,
    after: Option<&str>,
) -> Result<(u64, Option<String>), DbErr> {
    let from = |q: &mut sea_orm::sea_query::SelectStatement| {
        if let Some(after) = after {
            q.and_where(grant::Column::Id.gt(after));
        }
    };
    // The window's last id: the primary key index, read up to the window.
    let mut last = Query::select();
    last.column(grant::Column::Id).from(grant::Entity);
    from(&mut last);
    last.order_by(grant::Column::Id, sea_orm::sea_query::Order::Asc)
        .limit(1)
        .offset(PRUNE_WINDOW - 1);
    let end: Option<String> = match db.query_one(&last).await? {
        Some(row) => Some(row.try_get_by_index(0)?),
        None => None,
    };
    let none_under = |table: DynIden, grant_col: DynIden| {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(table.clone())
                .and_where(Expr::col((table, grant_col)).equals((grant::Entity, grant::Column::Id)))
                .to_owned(),
        )
        .not()
    };
    let mut delete = grant::Entity::delete_many()
        .filter(grant::Column::CreatedAt.lt(before))
        .filter(none_under(
            authorization_code::Entity.into_iden(),
            authorization_code::Column::GrantId.into_iden(),
        ))
        .filter(none_under(
            access_token::Entity.into_iden(),
            access_token::Column::GrantId.into_iden(),
        ))
        .filter(none_under(
            refresh_token::Entity.into_iden(),
            refresh_token::Column::GrantId.into_iden(),
        ));
    if let Some(after) = after {
        delete = delete.filter(grant::Column::Id.gt(after));
    }
    if let Some(end) = &end {
        delete = delete.filter(grant::Column::Id.lte(end.as_str()));
    }
    let pruned = delete.exec(db).await?.rows_affected;
    Ok((pruned, end))
}
