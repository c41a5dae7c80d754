//! What Signoff issues: ID tokens (signed JWTs), access tokens and refresh
//! tokens, and the user claims they carry. josekit is used only here and in
//! `keys`.

pub mod access_token;
pub mod claims;
pub mod id_token;
pub mod liveness;
pub mod refresh_token;
pub mod validate;
