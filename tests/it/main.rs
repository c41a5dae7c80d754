//! Every integration test in one binary: one link instead of one per file,
//! and one test run that keeps both cores busy. One module per feature; the
//! harness is `common`, with fixtures shared by several features beside it.

mod browser_support;
mod common;
mod dpop_support;
mod guard_support;
mod lifecycle;
mod logout_support;
mod ssf_support;

mod account;
mod audience;
mod authorize_errors;
mod authorize_limits;
mod backchannel;
mod browser;
mod cli;
mod code_flow;
mod cookies;
mod discovery;
mod dpop;
mod form_post;
mod gateway;
mod guard_feed;
mod guard_tokens;
mod hot_paths;
mod introspection;
mod introspection_jwt;
mod keys;
mod login_page;
mod logout;
mod logout_everywhere;
mod loopback_redirect;
mod ops_cli;
mod ops_health;
mod par;
mod private_key_jwt;
mod pruning;
mod reauthentication;
mod refresh_rotation;
mod replay_guard;
mod request_limits;
mod revocation;
mod revocation_log;
mod revocation_restart;
mod security_browser;
mod session_end;
mod sessions_sso;
mod ssf;
mod ssf_errors;
mod ssf_push;
mod throttle;
mod token_endpoint;
mod token_lifecycle;
mod userinfo;
