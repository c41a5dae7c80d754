//! HTTP plumbing shared by every endpoint: the route table, request parsing,
//! response headers.

pub mod cookies;
pub mod extract;
pub mod headers;
pub mod routes;
