//! Table `clients`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub scopes: String,
    pub grant_types: String,
    pub first_party: bool,
    pub require_pkce: bool,
    pub id_token_signed_response_alg: String,
    pub access_token_format: String,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    pub created_at: i64,
    pub audiences: String,
    pub access_token_ttl: Option<i64>,
    pub refresh_token_idle_ttl: Option<i64>,
    pub refresh_token_absolute_ttl: Option<i64>,
    pub token_version: i64,
    pub disabled: bool,
    pub logout_revokes: String,
    pub keep_offline_tokens: bool,
    pub introspect_audiences: String,
    pub dpop_bound_access_tokens: bool,
    pub require_pushed_authorization_requests: bool,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
