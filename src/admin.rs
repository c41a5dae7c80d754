//! Administrative operations behind the `signoff` command line (and usable
//! by tests): registering clients and users, with their validation.

use sea_orm::ConnectionTrait;
use url::Url;

use crate::config::is_loopback_host;
use crate::grant_type::GrantType;
use crate::jws::Algorithm;
use crate::oidc::client_keys;
use crate::random::{Random, identifier};
use crate::revocation::{Revoker, Transaction};
use crate::scope::Scope;
use crate::secrets::hash_password;
use crate::store::clients::{self, AccessTokenFormat, Client, ClientKeys, LogoutRevokes};
use crate::store::users::{self, NewUser};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::Invalid(msg.into()))
}

/// Everything needed to register a client.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub id: String,
    /// `None` registers a public client.
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Scope strings (RFC 6749 §3.3), each possibly space-delimited; empty
    /// registers the OpenID user scopes.
    pub scopes: Vec<String>,
    /// Grant type names; empty registers `GrantType::DEFAULT`.
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub require_pkce: bool,
    pub id_token_alg: Option<String>,
    pub access_token_format: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    /// RFC 8707 resources the client may ask tokens for; the first is the
    /// default audience of its JWT access tokens.
    pub audiences: Vec<String>,
    /// Per-client lifetimes in seconds (`None`: the global default).
    pub access_token_ttl: Option<i64>,
    pub refresh_token_idle_ttl: Option<i64>,
    pub refresh_token_absolute_ttl: Option<i64>,
    /// `session_tokens` (default) or `nothing`: what logging out does to the
    /// client's tokens of the session.
    pub logout_revokes: Option<String>,
    /// Keep `offline_access` grants when a session ends.
    pub keep_offline_tokens: bool,
    /// RFC 7662 §4: register the client as a resource server that may
    /// introspect tokens whose audience is one of these (every client may
    /// introspect its own tokens).
    pub introspect_audiences: Vec<String>,
    /// RFC 9449 §5.2: refuse this client's token requests without a DPoP
    /// proof.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: the client's authorization requests must be pushed.
    pub require_pushed_authorization_requests: bool,
    /// `private_key_jwt` (RFC 7523 §2.2): the client's public keys as a JWK
    /// Set (JSON text), or the URL it publishes them at. Instead of a secret.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

/// Redirect URI registration rules (RFC 6749 §3.1.2, RFC 9700 §4.1.3,
/// RFC 8252 §7): absolute, no fragment; https, or http on a loopback host, or
/// a private-use scheme for native apps.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!(
            "{uri} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!(
            "{uri}: plain http is only allowed for loopback hosts (127.0.0.1, [::1], localhost)"
        )),
        // RFC 8252 §7.1: private-use schemes are reverse domain names.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "{uri}: scheme {scheme} is neither https, loopback http, nor a private-use scheme like com.example.app (RFC 8252 §7.1)"
        )),
    }
}

/// Logout notification URIs (Back-/Front-Channel Logout 1.0 §2.2): https, or
/// http on a loopback host for development.
pub fn validate_logout_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("{uri} must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        _ => Err(format!(
            "{uri} must be https (http only for loopback hosts)"
        )),
    }
}

/// The keys of a `private_key_jwt` client: a JWK Set of public keys we can
/// verify with, or a URL we may fetch one from (`oidc::client_keys`). One
/// way of authenticating per client (OpenID Dynamic Client Registration
/// §2: `token_endpoint_auth_method`), so not with a secret.
fn client_keys(spec: &ClientSpec) -> Result<Option<ClientKeys>, AdminError> {
    let keys = match (&spec.jwks, &spec.jwks_uri) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return invalid("register --jwks or --jwks-uri, not both"),
        (Some(jwks), None) => {
            let count = client_keys::parse_jwks(jwks)
                .map_err(AdminError::Invalid)?
                .len();
            tracing::debug!(keys = count, "client JWK Set accepted");
            ClientKeys::Jwks(jwks.clone())
        }
        (None, Some(uri)) => {
            client_keys::validate_jwks_uri(uri).map_err(AdminError::Invalid)?;
            ClientKeys::Uri(uri.clone())
        }
    };
    if spec.secret.is_some() {
        return invalid("a client authenticates with a secret or with keys, not both");
    }
    Ok(Some(keys))
}

/// Register a client. The row and its `client_changed` event commit
/// together (`store::client_cache`).
pub async fn add_client(rev: &Revoker<'_>, spec: ClientSpec) -> Result<Client, AdminError> {
    if spec.id.is_empty() || spec.id.len() > 128 || !spec.id.bytes().all(|b| b.is_ascii_graphic()) {
        return invalid("client id must be 1-128 visible ASCII characters");
    }
    if let Some(secret) = &spec.secret {
        check_secret(secret)?;
    }
    // Hashed before the write lock is taken: argon2 takes a while.
    let secret_hash = match &spec.secret {
        Some(s) => Some(hash_password(s, rev.rng())?),
        None => None,
    };
    let mut txn = Transaction::begin(*rev).await?;
    if clients::find(txn.conn(), &spec.id).await?.is_some() {
        return invalid(format!("client {} already exists", spec.id));
    }
    // RFC 6749 §10.4: tokens are bound to the client they were issued to; a
    // client id removed and registered again inherits none of them (its
    // generation starts past the removed client's).
    let token_version = crate::revocation::initial_client_version(txn.conn(), &spec.id).await?;
    let client = registration(spec, secret_hash, rev.now(), token_version, false)?;
    clients::insert(txn.conn(), &client).await?;
    txn.client_changed(&client.id).await?;
    txn.commit().await?;
    Ok(client)
}

/// Give a confidential client a new secret (`secret`, or a random one).
/// The old one stops working on the instance `rev` applies its events to at
/// once, and on every other within the revocation view's propagation bound
/// (`client_changed` evicts the cached row holding the old hash). Returns
/// the new secret, which is stored only hashed.
pub async fn rotate_secret(
    rev: &Revoker<'_>,
    id: &str,
    secret: Option<String>,
) -> Result<String, AdminError> {
    let Some(client) = clients::find(rev.db(), id).await? else {
        return invalid(format!("no client {id}"));
    };
    if client.is_public() {
        return invalid(format!("client {id} is public: it has no secret"));
    }
    let secret = secret.unwrap_or_else(|| crate::random::secret_token(rev.rng()));
    check_secret(&secret)?;
    let hash = hash_password(&secret, rev.rng())?;
    let mut txn = Transaction::begin(*rev).await?;
    if !clients::set_secret_hash(txn.conn(), id, &hash).await? {
        return invalid(format!("no client {id}"));
    }
    txn.client_changed(id).await?;
    txn.commit().await?;
    Ok(secret)
}

/// A client secret an operator chose: long enough to resist guessing.
pub fn check_secret(secret: &str) -> Result<(), AdminError> {
    if secret.len() < 8 {
        return invalid("a client secret must be at least 8 characters");
    }
    Ok(())
}

/// Changes to a registered client: each `Some` replaces that setting.
#[derive(Debug, Clone, Default)]
pub struct ClientUpdate {
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub require_pkce: Option<bool>,
    pub id_token_alg: Option<String>,
    pub access_token_format: Option<String>,
    /// `Some(None)` removes the URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub frontchannel_logout_uri: Option<Option<String>>,
    pub audiences: Option<Vec<String>>,
    /// `Some(None)` returns to the global default.
    pub access_token_ttl: Option<Option<i64>>,
    pub refresh_token_idle_ttl: Option<Option<i64>>,
    pub refresh_token_absolute_ttl: Option<Option<i64>>,
    pub logout_revokes: Option<String>,
    pub keep_offline_tokens: Option<bool>,
    pub introspect_audiences: Option<Vec<String>>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
}

/// Change a client's registration under the rules of [`add_client`]. The
/// change commits with a `client_changed` event: it counts on the instance
/// `rev` applies its events to at once, and on every other within the
/// revocation view's propagation bound; tokens already issued keep what
/// they were issued with.
pub async fn update_client(
    rev: &Revoker<'_>,
    id: &str,
    u: ClientUpdate,
) -> Result<Client, AdminError> {
    let mut txn = Transaction::begin(*rev).await?;
    let Some(old) = clients::find(txn.conn(), id).await? else {
        return invalid(format!("no client {id}"));
    };
    let spec = ClientSpec {
        id: old.id.clone(),
        // Only whether it has one matters to the rules.
        secret: old.secret_hash.clone(),
        redirect_uris: u.redirect_uris.unwrap_or(old.redirect_uris),
        post_logout_redirect_uris: u
            .post_logout_redirect_uris
            .unwrap_or(old.post_logout_redirect_uris),
        scopes: u.scopes.unwrap_or_else(|| old.scopes.tokens().to_vec()),
        grant_types: u.grant_types.unwrap_or_else(|| {
            old.grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect()
        }),
        first_party: u.first_party.unwrap_or(old.first_party),
        require_pkce: u.require_pkce.unwrap_or(old.require_pkce),
        id_token_alg: Some(
            u.id_token_alg
                .unwrap_or_else(|| old.id_token_alg.to_string()),
        ),
        access_token_format: Some(
            u.access_token_format
                .unwrap_or_else(|| old.access_token_format.as_str().to_owned()),
        ),
        backchannel_logout_uri: u
            .backchannel_logout_uri
            .unwrap_or(old.backchannel_logout_uri),
        frontchannel_logout_uri: u
            .frontchannel_logout_uri
            .unwrap_or(old.frontchannel_logout_uri),
        audiences: u.audiences.unwrap_or(old.audiences),
        access_token_ttl: u.access_token_ttl.unwrap_or(old.access_token_ttl),
        refresh_token_idle_ttl: u
            .refresh_token_idle_ttl
            .unwrap_or(old.refresh_token_idle_ttl),
        refresh_token_absolute_ttl: u
            .refresh_token_absolute_ttl
            .unwrap_or(old.refresh_token_absolute_ttl),
        logout_revokes: Some(
            u.logout_revokes
                .unwrap_or_else(|| old.logout_revokes.as_str().to_owned()),
        ),
        keep_offline_tokens: u.keep_offline_tokens.unwrap_or(old.keep_offline_tokens),
        introspect_audiences: u.introspect_audiences.unwrap_or(old.introspect_audiences),
        dpop_bound_access_tokens: u
            .dpop_bound_access_tokens
            .unwrap_or(old.dpop_bound_access_tokens),
        require_pushed_authorization_requests: u
            .require_pushed_authorization_requests
            .unwrap_or(old.require_pushed_authorization_requests),
        jwks: match &old.keys {
            Some(clients::ClientKeys::Jwks(jwks)) => Some(jwks.clone()),
            _ => None,
        },
        jwks_uri: match &old.keys {
            Some(clients::ClientKeys::Uri(uri)) => Some(uri.clone()),
            _ => None,
        },
    };
    let client = registration(
        spec,
        old.secret_hash,
        old.created_at,
        old.token_version,
        old.disabled,
    )?;
    clients::update(txn.conn(), &client).await?;
    txn.client_changed(id).await?;
    txn.commit().await?;
    Ok(client)
}

/// The client `spec` describes, under the registration rules; `secret_hash`
/// is its stored secret (`None`: public).
fn registration(
    spec: ClientSpec,
    secret_hash: Option<String>,
    created_at: i64,
    token_version: i64,
    disabled: bool,
) -> Result<Client, AdminError> {
    let mut grant_types: Vec<GrantType> = Vec::new();
    for name in &spec.grant_types {
        let Some(g) = GrantType::parse_registration(name) else {
            let known: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
            return invalid(format!(
                "unknown grant type {name}; use one of {}",
                known.join(", ")
            ));
        };
        if !grant_types.contains(&g) {
            grant_types.push(g);
        }
    }
    if grant_types.is_empty() {
        grant_types = GrantType::DEFAULT.to_vec();
    }
    let keys = client_keys(&spec)?;
    let public = spec.secret.is_none() && keys.is_none();
    if public && grant_types.contains(&GrantType::ClientCredentials) {
        return invalid("a public client cannot use client_credentials (RFC 6749 §4.4)");
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && spec.redirect_uris.is_empty() {
        return invalid("a client using authorization_code needs at least one --redirect-uri");
    }
    for uri in &spec.redirect_uris {
        validate_redirect_uri(uri).map_err(AdminError::Invalid)?;
    }
    for uri in &spec.post_logout_redirect_uris {
        validate_redirect_uri(uri).map_err(AdminError::Invalid)?;
    }
    for uri in spec
        .backchannel_logout_uri
        .iter()
        .chain(spec.frontchannel_logout_uri.iter())
    {
        validate_logout_uri(uri).map_err(AdminError::Invalid)?;
    }
    let id_token_alg = match &spec.id_token_alg {
        None => Algorithm::Rs256,
        Some(a) => match Algorithm::parse(a) {
            Some(a) => a,
            None => {
                return invalid(format!(
                    "id token algorithm {a} is not one of RS256, ES256, EdDSA"
                ));
            }
        },
    };
    let access_token_format = match spec.access_token_format.as_deref() {
        None => AccessTokenFormat::Opaque,
        Some(f) => match AccessTokenFormat::parse(f) {
            Some(f) => f,
            None => return invalid(format!("access token format {f} is not jwt or opaque")),
        },
    };
    if let Some(secret) = &spec.secret
        && secret.len() < 8
    {
        return invalid("a client secret must be at least 8 characters");
    }
    if !spec.introspect_audiences.is_empty() && public {
        return invalid("a public client cannot introspect tokens (RFC 7662 §2.1)");
    }
    for aud in spec.audiences.iter().chain(&spec.introspect_audiences) {
        // RFC 8707 §2: a resource is an absolute URI without a fragment.
        match Url::parse(aud) {
            Ok(u) if u.fragment().is_none() => {}
            _ => {
                return invalid(format!(
                    "audience {aud} must be an absolute URI without a fragment"
                ));
            }
        }
    }
    for (name, ttl) in [
        ("access token lifetime", spec.access_token_ttl),
        ("refresh token idle lifetime", spec.refresh_token_idle_ttl),
        (
            "refresh token absolute lifetime",
            spec.refresh_token_absolute_ttl,
        ),
    ] {
        if ttl.is_some_and(|t| t < 1) {
            return invalid(format!("{name} must be at least one second"));
        }
    }
    let logout_revokes = match spec.logout_revokes.as_deref() {
        None => LogoutRevokes::SessionTokens,
        Some(p) => match LogoutRevokes::parse(p) {
            Some(p) => p,
            None => {
                return invalid(format!(
                    "logout_revokes {p} is not session_tokens or nothing"
                ));
            }
        },
    };
    let scopes = if spec.scopes.is_empty() {
        Scope::parse_all(crate::tokens::claims::USER_SCOPES).map_err(anyhow::Error::from)?
    } else {
        registered_scope(&spec.scopes)?
    };
    Ok(Client {
        id: spec.id,
        secret_hash,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        scopes,
        grant_types,
        first_party: spec.first_party,
        require_pkce: spec.require_pkce,
        id_token_alg,
        access_token_format,
        backchannel_logout_session_required: spec.backchannel_logout_uri.is_some(),
        backchannel_logout_uri: spec.backchannel_logout_uri,
        frontchannel_logout_session_required: spec.frontchannel_logout_uri.is_some(),
        frontchannel_logout_uri: spec.frontchannel_logout_uri,
        created_at,
        audiences: spec.audiences,
        access_token_ttl: spec.access_token_ttl,
        refresh_token_idle_ttl: spec.refresh_token_idle_ttl,
        refresh_token_absolute_ttl: spec.refresh_token_absolute_ttl,
        token_version,
        disabled,
        logout_revokes,
        keep_offline_tokens: spec.keep_offline_tokens,
        introspect_audiences: spec.introspect_audiences,
        dpop_bound_access_tokens: spec.dpop_bound_access_tokens,
        require_pushed_authorization_requests: spec.require_pushed_authorization_requests,
        keys,
    })
}

/// RFC 6749 §3.3: each `--scope` value is a scope string, so `"a b"`
/// registers `a` and `b`; a token with a character outside §3.3's set (a
/// quote, a backslash, a control or non-ASCII character) is refused.
fn registered_scope(values: &[String]) -> Result<Scope, AdminError> {
    for value in values {
        if Scope::parse(value).is_err() {
            return invalid(format!(
                "scope {value:?} is not a list of scope tokens (RFC 6749 §3.3: printable ASCII \
                 except space, \" and \\)"
            ));
        }
    }
    let scope = Scope::parse_all(values).map_err(anyhow::Error::from)?;
    if scope.is_empty() {
        return invalid("a scope must hold at least one scope token");
    }
    Ok(scope)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UserSpec<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password: &'a str,
    /// E.164, e.g. +15551234567 (OpenID Core §5.1).
    pub phone_number: Option<&'a str>,
    /// The postal address as one formatted string.
    pub address: Option<&'a str>,
}

/// OpenID Core §5.1 `phone_number`: E.164 is RECOMMENDED; we require it so
/// relying parties get one format.
fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

pub async fn add_user(
    db: &impl ConnectionTrait,
    rng: &dyn Random,
    spec: UserSpec<'_>,
    now: i64,
) -> Result<String, AdminError> {
    let username = spec.username.trim();
    if username.is_empty() || username.len() > 255 {
        return invalid("username must be 1-255 characters");
    }
    if spec.password.len() < 8 {
        return invalid("password must be at least 8 characters");
    }
    if let Some(email) = spec.email
        && !email.contains('@')
    {
        return invalid(format!("{email} is not an email address"));
    }
    if let Some(phone) = spec.phone_number
        && !is_e164(phone)
    {
        return invalid(format!(
            "{phone} is not an E.164 phone number such as +15551234567"
        ));
    }
    if spec
        .address
        .is_some_and(|a| a.trim().is_empty() || a.len() > 1000)
    {
        return invalid("address must be 1-1000 characters");
    }
    if users::find_by_username(db, username).await?.is_some() {
        return invalid(format!("user {username} already exists"));
    }
    let id = identifier(rng);
    let hash = hash_password(spec.password, rng)?;
    users::insert(
        db,
        NewUser {
            id: &id,
            username,
            email: spec.email,
            name: spec.name,
            password_hash: &hash,
            phone_number: spec.phone_number,
            address: spec.address.map(str::trim),
            now,
        },
    )
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:9000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
            "https://app.example.com/cb?tenant=1",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "myapp:/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registered_scopes_are_scope_strings() {
        let scope = registered_scope(&["openid".into(), "files.read files.write".into()]).unwrap();
        assert_eq!(scope.tokens(), ["openid", "files.read", "files.write"]);
        for bad in ["files\"read", "a\\b", " "] {
            let err = registered_scope(&[bad.into()]).unwrap_err().to_string();
            assert!(err.contains("scope"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn logout_uri_rules() {
        assert!(validate_logout_uri("https://rp.example.com/logout").is_ok());
        assert!(validate_logout_uri("http://127.0.0.1:3000/logout").is_ok());
        assert!(validate_logout_uri("http://rp.example.com/logout").is_err());
    }
}
