//! Registered relying parties (and resource servers, which are clients too).

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::client;
use super::{list_from_json, list_to_json};
use crate::grant_type::GrantType;
use crate::jws::Algorithm;
use crate::scope::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTokenFormat {
    Jwt,
    Opaque,
}

impl AccessTokenFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            AccessTokenFormat::Jwt => "jwt",
            AccessTokenFormat::Opaque => "opaque",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jwt" => Some(Self::Jwt),
            "opaque" => Some(Self::Opaque),
            _ => None,
        }
    }
}

/// What ending an SSO session does to the tokens a client received in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRevokes {
    /// Revoke the session's grants for this client (access and refresh tokens).
    SessionTokens,
    /// Leave them: the client's tokens outlive the session.
    Nothing,
}

impl LogoutRevokes {
    pub fn as_str(&self) -> &'static str {
        match self {
            LogoutRevokes::SessionTokens => "session_tokens",
            LogoutRevokes::Nothing => "nothing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session_tokens" => Some(Self::SessionTokens),
            "nothing" => Some(Self::Nothing),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// argon2id hash; `None` for a public client (RFC 6749 §2.1).
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Scope,
    pub grant_types: Vec<GrantType>,
    /// Trusted first-party application: no consent page.
    pub first_party: bool,
    pub require_pkce: bool,
    pub id_token_alg: Algorithm,
    pub access_token_format: AccessTokenFormat,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    pub created_at: i64,
    /// Audiences (RFC 8707 resource indicators) this client may ask tokens
    /// for; the first is the default `aud` of its JWT access tokens.
    pub audiences: Vec<String>,
    /// Per-client lifetimes in seconds; `None` takes the global default.
    pub access_token_ttl: Option<i64>,
    pub refresh_token_idle_ttl: Option<i64>,
    pub refresh_token_absolute_ttl: Option<i64>,
    /// The generation of the client's tokens: what was issued under an
    /// older one is void ("revoke every token of this client", disabling,
    /// removal; see `tokens::liveness`).
    pub token_version: i64,
    pub disabled: bool,
    /// What logging out does to this client's tokens of the session.
    pub logout_revokes: LogoutRevokes,
    /// Grants with `offline_access` survive logout even under
    /// `LogoutRevokes::SessionTokens`.
    pub keep_offline_tokens: bool,
    /// RFC 7662 §4: the audiences whose tokens this client, a resource
    /// server, may introspect (besides its own tokens, which every client
    /// may).
    pub introspect_audiences: Vec<String>,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: authorization requests only through /par.
    pub require_pushed_authorization_requests: bool,
    /// The public keys of a `private_key_jwt` client (RFC 7523 §2.2).
    pub keys: Option<ClientKeys>,
}

/// Where a `private_key_jwt` client's public keys are (OpenID Dynamic
/// Client Registration §2: `jwks` or `jwks_uri`, never both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    /// A JWK Set, as JSON text.
    Jwks(String),
    /// An https URL (or http on a loopback address) serving the JWK Set.
    Uri(String),
}

impl Client {
    /// RFC 6749 §2.1: a client with no credentials, neither a secret nor
    /// keys.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.keys.is_none()
    }

    pub fn allows_grant(&self, grant_type: GrantType) -> bool {
        self.grant_types.contains(&grant_type)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// RFC 7636 is mandatory for public clients (RFC 9700 §2.1.1) and
    /// optional per client for confidential ones.
    pub fn pkce_required(&self) -> bool {
        self.is_public() || self.require_pkce
    }
}

impl From<client::Model> for Client {
    fn from(m: client::Model) -> Self {
        Client {
            id: m.id,
            secret_hash: m.secret_hash,
            redirect_uris: list_from_json(&m.redirect_uris),
            post_logout_redirect_uris: list_from_json(&m.post_logout_redirect_uris),
            scopes: Scope::from_stored_list(&list_from_json(&m.scopes)),
            grant_types: list_from_json(&m.grant_types)
                .iter()
                .filter_map(|g| GrantType::parse(g))
                .collect(),
            first_party: m.first_party,
            require_pkce: m.require_pkce,
            id_token_alg: Algorithm::parse(&m.id_token_signed_response_alg)
                .unwrap_or(Algorithm::Rs256),
            access_token_format: AccessTokenFormat::parse(&m.access_token_format)
                .unwrap_or(AccessTokenFormat::Opaque),
            backchannel_logout_uri: m.backchannel_logout_uri,
            backchannel_logout_session_required: m.backchannel_logout_session_required,
            frontchannel_logout_uri: m.frontchannel_logout_uri,
            frontchannel_logout_session_required: m.frontchannel_logout_session_required,
            created_at: m.created_at,
            audiences: list_from_json(&m.audiences),
            access_token_ttl: m.access_token_ttl,
            refresh_token_idle_ttl: m.refresh_token_idle_ttl,
            refresh_token_absolute_ttl: m.refresh_token_absolute_ttl,
            token_version: m.token_version,
            disabled: m.disabled,
            logout_revokes: LogoutRevokes::parse(&m.logout_revokes)
                .unwrap_or(LogoutRevokes::SessionTokens),
            keep_offline_tokens: m.keep_offline_tokens,
            introspect_audiences: list_from_json(&m.introspect_audiences),
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
            require_pushed_authorization_requests: m.require_pushed_authorization_requests,
            keys: match (m.jwks, m.jwks_uri) {
                (Some(jwks), _) => Some(ClientKeys::Jwks(jwks)),
                (None, Some(uri)) => Some(ClientKeys::Uri(uri)),
                (None, None) => None,
            },
        }
    }
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Client>, sea_orm::DbErr> {
    Ok(client::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(Client::from))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Client>, sea_orm::DbErr> {
    Ok(client::Entity::find()
        .order_by_asc(client::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Client::from)
        .collect())
}

/// Writers of client rows are `crate::admin` and `crate::revocation` only:
/// each change commits with its revocation log event, which evicts the
/// cached row on every instance (`store::client_cache`).
pub(crate) async fn insert(db: &impl ConnectionTrait, c: &Client) -> Result<(), sea_orm::DbErr> {
    active(c).insert(db).await?;
    Ok(())
}

/// Write every setting of a registered client (found by id).
pub(crate) async fn update(db: &impl ConnectionTrait, c: &Client) -> Result<(), sea_orm::DbErr> {
    active(c).update(db).await?;
    Ok(())
}

fn active(c: &Client) -> client::ActiveModel {
    client::ActiveModel {
        id: Set(c.id.clone()),
        secret_hash: Set(c.secret_hash.clone()),
        redirect_uris: Set(list_to_json(&c.redirect_uris)),
        post_logout_redirect_uris: Set(list_to_json(&c.post_logout_redirect_uris)),
        scopes: Set(list_to_json(c.scopes.tokens())),
        grant_types: Set(list_to_json(
            &c.grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect::<Vec<_>>(),
        )),
        first_party: Set(c.first_party),
        require_pkce: Set(c.require_pkce),
        id_token_signed_response_alg: Set(c.id_token_alg.as_str().into()),
        access_token_format: Set(c.access_token_format.as_str().into()),
        backchannel_logout_uri: Set(c.backchannel_logout_uri.clone()),
        backchannel_logout_session_required: Set(c.backchannel_logout_session_required),
        frontchannel_logout_uri: Set(c.frontchannel_logout_uri.clone()),
        frontchannel_logout_session_required: Set(c.frontchannel_logout_session_required),
        created_at: Set(c.created_at),
        audiences: Set(list_to_json(&c.audiences)),
        access_token_ttl: Set(c.access_token_ttl),
        refresh_token_idle_ttl: Set(c.refresh_token_idle_ttl),
        refresh_token_absolute_ttl: Set(c.refresh_token_absolute_ttl),
        token_version: Set(c.token_version),
        disabled: Set(c.disabled),
        logout_revokes: Set(c.logout_revokes.as_str().into()),
        keep_offline_tokens: Set(c.keep_offline_tokens),
        introspect_audiences: Set(list_to_json(&c.introspect_audiences)),
        dpop_bound_access_tokens: Set(c.dpop_bound_access_tokens),
        require_pushed_authorization_requests: Set(c.require_pushed_authorization_requests),
        jwks: Set(match &c.keys {
            Some(ClientKeys::Jwks(jwks)) => Some(jwks.clone()),
            _ => None,
        }),
        jwks_uri: Set(match &c.keys {
            Some(ClientKeys::Uri(uri)) => Some(uri.clone()),
            _ => None,
        }),
    }
}

pub(crate) async fn set_secret_hash(
    db: &impl ConnectionTrait,
    id: &str,
    secret_hash: &str,
) -> Result<bool, sea_orm::DbErr> {
    let res = client::Entity::update_many()
        .col_expr(client::Column::SecretHash, Expr::value(secret_hash))
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The client's token version after a change made in this transaction.
async fn version_of(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, DbErr> {
    Ok(client::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(|c| c.token_version))
}

/// Start a new token generation for the client ("revoke every token of this
/// client"); returns it (`None`: no such client). Only `crate::revocation`
/// moves versions, recording why.
pub(crate) async fn bump_token_version(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<i64>, DbErr> {
    let res = client::Entity::update_many()
        .col_expr(
            client::Column::TokenVersion,
            Expr::col(client::Column::TokenVersion).add(1),
        )
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Disable an enabled client: it authenticates nowhere, and a new token
/// generation starts so that enabling it again never brings old tokens back.
/// Returns the new version; `None` when there is no such enabled client.
pub(crate) async fn disable(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, DbErr> {
    let res = client::Entity::update_many()
        .col_expr(client::Column::Disabled, Expr::value(true))
        .col_expr(
            client::Column::TokenVersion,
            Expr::col(client::Column::TokenVersion).add(1),
        )
        .filter(client::Column::Id.eq(id))
        .filter(client::Column::Disabled.eq(false))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

/// Enable a disabled client; returns its (unchanged) version, `None` when
/// there is no such disabled client.
pub(crate) async fn enable(db: &impl ConnectionTrait, id: &str) -> Result<Option<i64>, DbErr> {
    let res = client::Entity::update_many()
        .col_expr(client::Column::Disabled, Expr::value(false))
        .filter(client::Column::Id.eq(id))
        .filter(client::Column::Disabled.eq(true))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    version_of(db, id).await
}

pub(crate) async fn remove(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let res = client::Entity::delete_by_id(id.to_owned()).exec(db).await?;
    Ok(res.rows_affected == 1)
}

/// Clients whose tokens are not all at generation 0 or that are disabled:
/// what the revocation view starts from. `(id, token_version, disabled)`.
pub async fn standings(db: &impl ConnectionTrait) -> Result<Vec<(String, i64, bool)>, DbErr> {
    client::Entity::find()
        .select_only()
        .column(client::Column::Id)
        .column(client::Column::TokenVersion)
        .column(client::Column::Disabled)
        .filter(
            sea_orm::Condition::any()
                .add(client::Column::TokenVersion.gt(0))
                .add(client::Column::Disabled.eq(true)),
        )
        .into_tuple()
        .all(db)
        .await
}

/// The longest per-client access token lifetime registered, if any client
/// has its own.
pub async fn longest_access_token_ttl(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    let max: Option<Option<i64>> = client::Entity::find()
        .select_only()
        .column_as(Expr::col(client::Column::AccessTokenTtl).max(), "max")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten())
}
