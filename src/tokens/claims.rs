//! Standard user claims released per scope (OpenID Core §5.4).

use serde_json::{Map, Value, json};

use crate::scope::Scope;
use crate::store::users::User;

/// The scopes about a user that OpenID Connect defines: `openid` (Core §3.1.2.1),
/// the claim scopes of §5.4 and `offline_access` (§11). They are what
/// discovery advertises, what a client gets by default, and what the
/// client_credentials grant (no user) never hands out.
pub const USER_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Claims names this provider can release, for discovery's `claims_supported`.
pub const SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
];

/// The claims `scopes` release about `user`, `sub` excluded. Scopes for
/// which the user has no data (address, phone) release nothing: OpenID Core
/// §5.3.2 says to omit claims that have no value.
pub fn user_claims(user: &User, scopes: &Scope) -> Map<String, Value> {
    let mut claims = Map::new();
    if scopes.contains("profile") {
        claims.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = &user.name {
            claims.insert("name".into(), json!(name));
        }
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.contains("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.contains("phone")
        && let Some(phone) = &user.phone_number
    {
        claims.insert("phone_number".into(), json!(phone));
        // Entered by an administrator, like the email address.
        claims.insert("phone_number_verified".into(), json!(true));
    }
    if scopes.contains("address")
        && let Some(address) = &user.address
    {
        // §5.1.1: an address is a JSON object; `formatted` holds it whole.
        claims.insert("address".into(), json!({ "formatted": address }));
    }
    claims
}
