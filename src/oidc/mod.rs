//! OpenID Connect and OAuth 2.0 endpoints, one module per endpoint.

pub mod authorize;
pub mod client_assertion;
pub mod client_auth;
pub mod client_keys;
pub mod device;
pub mod device_page;
pub mod device_token;
pub mod discovery;
pub mod end_session;
pub mod introspection;
pub mod introspection_jwt;
pub mod jwks;
pub mod par;
pub mod revocation;
pub mod token;
pub mod userinfo;
