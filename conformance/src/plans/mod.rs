//! The test plans. Module names are the OpenID Foundation suite's, so results can be
//! compared line by line with a certification run; `signoff-*` modules are our own.

mod backchannel;
mod basic;
mod discovery;
mod fapi2;
mod frontchannel;
mod logout;
mod private_key_jwt;
mod session;
mod ssf;
mod ssf_push;
mod ssf_subjects;
mod tokens;

use crate::browser::Walk;
use crate::checks::{Checks, Halt, Step};
use crate::config::ClientCfg;
use crate::op::{Op, Tokens};

/// The modules of a plan, in the Foundation's order.
pub fn modules(plan: &str) -> Vec<&'static str> {
    match plan {
        "config" => discovery::MODULES.to_vec(),
        "basic" => basic::MODULES.to_vec(),
        "basic-private-key-jwt" => private_key_jwt::modules(),
        "formpost-basic" => basic::MODULES.to_vec(),
        "rp-logout" => logout::MODULES.to_vec(),
        "backchannel" => backchannel::MODULES.to_vec(),
        "frontchannel" => frontchannel::MODULES.to_vec(),
        "tokens" => tokens::MODULES.to_vec(),
        "ssf" => ssf::MODULES.to_vec(),
        "fapi2" => fapi2::MODULES.to_vec(),
        _ => Vec::new(),
    }
}

pub async fn run(plan: &str, module: &str, op: &Op, c: &mut Checks) -> Step {
    match plan {
        "config" => discovery::run(module, op, c).await,
        "basic" => basic::run(module, op, c).await,
        "basic-private-key-jwt" => private_key_jwt::run(module, op, c).await,
        "formpost-basic" => form_post(module, op, c).await,
        "rp-logout" => logout::run(module, op, c).await,
        "backchannel" => backchannel::run(module, op, c).await,
        "frontchannel" => frontchannel::run(module, op, c).await,
        "tokens" => tokens::run(module, op, c).await,
        "ssf" => ssf::run(module, op, c).await,
        "fapi2" => fapi2::run(module, op, c).await,
        _ => Err(Halt::Error(format!("unknown plan {plan}"))),
    }
}

/// oidcc-formpost-basic-certification-test-plan: the Basic plan's modules with
/// response_mode=form_post on every authorization request (the Foundation's
/// `changeResponseTypeToFormPost`); responses, errors included, come as a POSTed form.
async fn form_post(module: &str, op: &Op, c: &mut Checks) -> Step {
    if !op.advertises("response_modes_supported", "form_post") {
        return Err(Halt::Skip(
            "response_modes_supported does not list form_post".into(),
        ));
    }
    let mut variant = op.clone();
    variant.cfg.response_mode = Some("form_post");
    basic::run(module, &variant, c).await
}

/// A configured client role, or SKIPPED when the configuration has none.
pub fn need<'a>(client: &'a Option<ClientCfg>, role: &str) -> Step<&'a ClientCfg> {
    client.as_ref().ok_or_else(|| {
        Halt::Skip(format!(
            "no {role} client configured ([clients.{role}] or --client {role}=ID:SECRET)"
        ))
    })
}

/// A fresh browser logs in with the main client and `scope`; the session stays in it.
pub async fn login(
    op: &Op,
    c: &mut Checks,
    browser: &crate::browser::Browser,
    scope: &str,
) -> Step<(Walk, Tokens)> {
    let req = op.request(&op.cfg.main, scope);
    op.code_flow(c, browser, req).await
}
