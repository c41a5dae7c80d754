//! SSO sessions: one row per browser login. The cookie carries a random
//! secret; the row keeps only its hash. `id` is the public `sid` claim.

use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::{session, session_client, user};
use super::users::User;

pub use session::Model as Session;

impl Session {
    /// OpenID Core §3.1.2.1 / Session lifetimes: a session counts only while
    /// neither its idle nor its absolute lifetime has run out.
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.idle_expires_at > now && self.absolute_expires_at > now
    }
}

pub struct NewSession<'a> {
    pub id: &'a str,
    pub cookie_hash: &'a str,
    pub user_id: &'a str,
    pub amr: &'a str,
    pub now: i64,
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// The user's token version at login (`tokens::liveness`).
    pub user_version: i64,
}

pub async fn insert(db: &impl ConnectionTrait, s: NewSession<'_>) -> Result<Session, DbErr> {
    let absolute = s.now + s.absolute_ttl;
    session::ActiveModel {
        id: Set(s.id.into()),
        cookie_hash: Set(s.cookie_hash.into()),
        user_id: Set(s.user_id.into()),
        auth_time: Set(s.now),
        amr: Set(s.amr.into()),
        created_at: Set(s.now),
        last_seen_at: Set(s.now),
        idle_expires_at: Set((s.now + s.idle_ttl).min(absolute)),
        absolute_expires_at: Set(absolute),
        ended_at: Set(None),
        user_agent: Set(s.user_agent.map(|v| truncate(v, 512))),
        ip: Set(s.ip.map(Into::into)),
        user_version: Set(s.user_version),
    }
    .insert(db)
    .await
}

fn truncate(v: &str, max: usize) -> String {
    v.chars().take(max).collect()
}

pub async fn find_by_cookie_hash(
    db: &impl ConnectionTrait,
    cookie_hash: &str,
) -> Result<Option<Session>, DbErr> {
    session::Entity::find()
        .filter(session::Column::CookieHash.eq(cookie_hash))
        .one(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Session>, DbErr> {
    session::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The session `id` with its user row, in one statement (the hot paths ask
/// for both: issue 16).
pub async fn find_with_user(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<(Session, User)>, DbErr> {
    with_user(db, session::Column::Id.eq(id)).await
}

/// The session a cookie opens, with its user row, in one statement.
pub async fn find_by_cookie_hash_with_user(
    db: &impl ConnectionTrait,
    cookie_hash: &str,
) -> Result<Option<(Session, User)>, DbErr> {
    with_user(db, session::Column::CookieHash.eq(cookie_hash)).await
}

async fn with_user(
    db: &impl ConnectionTrait,
    which: impl IntoCondition,
) -> Result<Option<(Session, User)>, DbErr> {
    let of_user = session::Entity::belongs_to(user::Entity)
        .from(session::Column::UserId)
        .to(user::Column::Id)
        .into();
    let row = session::Entity::find()
        .filter(which)
        .select_also(user::Entity)
        .join(JoinType::InnerJoin, of_user)
        .one(db)
        .await?;
    Ok(row.and_then(|(s, u)| Some((s, User::from(u?)))))
}

/// Sliding sessions: activity pushes the idle expiry forward, never past the
/// absolute one. Returns false when the session has ended meanwhile: the
/// conditional UPDATE waits for a concurrent `end` to commit, so a caller
/// that adds to the session in the same transaction (a grant) never adds to
/// one whose end did not see it.
pub async fn touch(
    db: &impl ConnectionTrait,
    s: &Session,
    now: i64,
    idle_ttl: i64,
) -> Result<bool, DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .col_expr(
            session::Column::IdleExpiresAt,
            Expr::value((now + idle_ttl).min(s.absolute_expires_at)),
        )
        .filter(session::Column::Id.eq(&s.id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Re-authentication in an existing session (prompt=login, max_age) moves
/// `auth_time` forward and replaces the cookie: the value the browser held
/// before the login no longer opens the session.
pub async fn reauthenticated(
    db: &impl ConnectionTrait,
    id: &str,
    cookie_hash: &str,
    now: i64,
) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::CookieHash, Expr::value(cookie_hash))
        .col_expr(session::Column::AuthTime, Expr::value(now))
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Remember that `client_id` received tokens in this session: the clients to
/// notify when it ends.
pub async fn add_client(
    db: &impl ConnectionTrait,
    session_id: &str,
    client_id: &str,
    now: i64,
) -> Result<(), DbErr> {
    session_client::Entity::insert(session_client::ActiveModel {
        session_id: Set(session_id.into()),
        client_id: Set(client_id.into()),
        first_seen_at: Set(now),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn clients(db: &impl ConnectionTrait, session_id: &str) -> Result<Vec<String>, DbErr> {
    Ok(session_client::Entity::find()
        .filter(session_client::Column::SessionId.eq(session_id))
        .order_by_asc(session_client::Column::FirstSeenAt)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.client_id)
        .collect())
}

/// End a session; returns false when it had already ended. Only
/// `crate::revocation` ends sessions, recording why.
pub(crate) async fn end(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<bool, DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// End a session only if it has run out of time by `now` (the idle expiry
/// never comes after the absolute one): one used since the expiry sweep
/// listed it stays. Only `crate::revocation` ends sessions.
pub(crate) async fn end_expired(
    db: &impl ConnectionTrait,
    id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::EndedAt.is_null())
        .filter(session::Column::IdleExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Sessions not yet ended (they may have run out of time; see
/// `Session::is_active`), of one user or of everyone, most recent first.
pub async fn not_ended(
    db: &impl ConnectionTrait,
    user_id: Option<&str>,
) -> Result<Vec<Session>, DbErr> {
    let mut query = session::Entity::find().filter(session::Column::EndedAt.is_null());
    if let Some(user_id) = user_id {
        query = query.filter(session::Column::UserId.eq(user_id));
    }
    query
        .order_by_desc(session::Column::LastSeenAt)
        .order_by_asc(session::Column::Id)
        .all(db)
        .await
}

/// Sessions not ended whose idle (and so possibly absolute) lifetime ran
/// out by `now`, oldest expiry first, at most `limit`: the expiry sweep ends
/// them.
pub async fn expired(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<Session>, DbErr> {
    session::Entity::find()
        .filter(session::Column::EndedAt.is_null())
        .filter(session::Column::IdleExpiresAt.lte(now))
        .order_by_asc(session::Column::IdleExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Remove sessions that ended before `before` (at most 1000 a call), with
/// their participant rows. Tokens bound to an ended session are dead already,
/// and an unknown session counts as ended, so nothing changes meaning.
pub async fn prune_ended(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    let ids: Vec<String> = session::Entity::find()
        .filter(session::Column::EndedAt.lt(before))
        .limit(1000)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    session_client::Entity::delete_many()
        .filter(session_client::Column::SessionId.is_in(ids.clone()))
        .exec(db)
        .await?;
    Ok(session::Entity::delete_many()
        .filter(session::Column::Id.is_in(ids))
        .exec(db)
        .await?
        .rows_affected)
}
