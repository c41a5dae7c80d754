//! The test plans. Module names are the OpenID Foundation suite's, so results can be
//! compared line by line with a certification run; `signoff-*` modules are our own.

mod backchannel;
mod basic;
mod discovery;
mod frontchannel;
mod logout;
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
        "rp-logout" => logout::MODULES.to_vec(),
        "backchannel" => backchannel::MODULES.to_vec(),
        "frontchannel" => frontchannel::MODULES.to_vec(),
        "tokens" => tokens::MODULES.to_vec(),
        "ssf" => ssf::MODULES.to_vec(),
        _ => Vec::new(),
    }
}

pub async fn run(plan: &str, module: &str, op: &Op, c: &mut Checks) -> Step {
    match plan {
        "config" => discovery::run(module, op, c).await,
        "basic" => basic::run(module, op, c).await,
        "rp-logout" => logout::run(module, op, c).await,
        "backchannel" => backchannel::run(module, op, c).await,
        "frontchannel" => frontchannel::run(module, op, c).await,
        "tokens" => tokens::run(module, op, c).await,
        "ssf" => ssf::run(module, op, c).await,
        _ => Err(Halt::Error(format!("unknown plan {plan}"))),
    }
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
