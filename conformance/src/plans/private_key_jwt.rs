//! oidcc-basic-certification-test-plan under the variant client_auth_type=private_key_jwt:
//! the Basic plan's modules, with the main client replaced by one that authenticates with
//! a signed assertion (RFC 7523 §2.2, OIDC Core 9) at every token request, plus
//! `oidcc-ensure-client-assertion-with-iss-aud-succeeds`, which the Foundation runs only
//! under this variant (in its Dynamic plan's private_key_jwt entry).

use super::{basic, need};
use crate::checks::{Checks, Halt, Step, skip};
use crate::op::{NonceRule, Op, Reply};

pub const ISS_AUD: &str = "oidcc-ensure-client-assertion-with-iss-aud-succeeds";

pub fn modules() -> Vec<&'static str> {
    let mut m = basic::MODULES.to_vec();
    m.push(ISS_AUD);
    m
}

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    if !op.advertises("token_endpoint_auth_methods_supported", "private_key_jwt") {
        return skip("token_endpoint_auth_methods_supported does not list private_key_jwt");
    }
    let client = need(&op.cfg.private_key_jwt, "private_key_jwt")?.clone();
    let mut variant = op.clone();
    variant.cfg.main = client;
    if module == ISS_AUD {
        return iss_aud(&variant, c).await;
    }
    basic::run(module, &variant, c).await
}

/// RFC 7523 §3 point 3 and OIDC Core 9: the audience identifies the server; the issuer is
/// a value the server SHOULD accept. Refusing it is a WARNING if the error is a proper
/// invalid_client (RFC 6749 §5.2), anything else FAILS.
async fn iss_aud(op: &Op, c: &mut Checks) -> Step {
    let browser = op.browser();
    let client = op.cfg.main.clone();
    let req = op.request(&client, "openid");
    let (walk, authz) = op.authorize(&browser, &req, false).await?;
    let code = op.expect_code(c, &req, &walk, authz)?;
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code),
        ("redirect_uri".to_string(), op.cfg.redirect_uri.clone()),
    ];
    let issuer = op.meta.issuer().to_string();
    let reply: Reply = op
        .authed_post_with(op.token_endpoint()?, &client, form, &issuer, None)
        .await?;
    if reply.status == 200 {
        let raw = reply
            .str("id_token")
            .ok_or_else(|| c.fail("OIDC Core 3.1.3.3", "no id_token in the token response"))?
            .to_string();
        let nonce = req.nonce.clone().unwrap_or_default();
        op.verify_id_token(
            c,
            &client,
            &raw,
            NonceRule::Equals(&nonce),
            reply.str("access_token"),
        )?;
        return Ok(());
    }
    c.check(
        (reply.status == 400 || reply.status == 401) && reply.error() == Some("invalid_client"),
        "RFC 6749 5.2",
        format!(
            "an assertion with aud = the issuer was refused, and not with a 400/401 \
             invalid_client: {}",
            reply.brief()
        ),
    );
    c.should(
        false,
        "OIDC Core 9",
        format!(
            "the token endpoint refused a client assertion whose aud is the issuer: {}",
            reply.brief()
        ),
    );
    Err(Halt::Failed)
}
