//! HTTP plumbing shared by every endpoint, and the bottom layer of the web
//! side: request parsing, cookies, response headers. The route table is
//! `crate::routes`.

pub mod access;
pub mod client_addr;
pub mod cookies;
pub mod extract;
pub mod headers;
pub mod outbound;
pub mod peer_limit;
pub mod rate;
pub mod server;
