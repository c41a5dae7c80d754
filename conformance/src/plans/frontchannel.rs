//! Front-Channel Logout (oidcc-frontchannel-rp-initiated-logout-certification-test-plan):
//! the logout page renders an iframe per RP at its frontchannel_logout_uri (FCL 2-4).

use super::logout::{end_session, expect_logged_out};
use super::need;
use crate::checks::{Checks, Halt, Step, shown, skip};
use crate::op::{Op, param, same_endpoint};
use openidconnect::CsrfToken;

pub const MODULES: &[&str] = &[
    "oidcc-frontchannel-logout-discovery-endpoint-verification",
    "oidcc-frontchannel-rp-initiated-logout",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    if !op.flag("frontchannel_logout_supported") {
        return skip("discovery does not set frontchannel_logout_supported");
    }
    match module {
        "oidcc-frontchannel-logout-discovery-endpoint-verification" => {
            if let Some(v) = op.raw.get("frontchannel_logout_session_supported") {
                c.check(
                    v.is_boolean(),
                    "FCL 3",
                    "frontchannel_logout_session_supported is not a boolean",
                );
            }
            c.should(
                op.raw.get("end_session_endpoint").is_some(),
                "RP-Initiated Logout 2.1",
                "no end_session_endpoint: RPs cannot start a logout",
            );
            Ok(())
        }
        "oidcc-frontchannel-rp-initiated-logout" => rp_initiated(op, c).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

async fn rp_initiated(op: &Op, c: &mut Checks) -> Step {
    let endpoint = op.endpoint("end_session_endpoint")?;
    let client = need(&op.cfg.frontchannel, "frontchannel")?.clone();
    let browser = op.browser();
    let (_, tokens) = op
        .code_flow(c, &browser, op.request(&client, "openid"))
        .await?;
    let id = tokens.id_token;
    let state = CsrfToken::new_random().secret().clone();
    let pl = op.cfg.post_logout_redirect_uri.clone();
    let walk = end_session(
        op,
        &browser,
        &endpoint,
        &[
            ("id_token_hint", &id.raw),
            ("post_logout_redirect_uri", &pl),
            ("state", &state),
        ],
    )
    .await?;
    let fc = &op.cfg.frontchannel_logout_uri;
    let Some(frame) = walk.iframes.iter().find(|u| same_endpoint(u, fc)) else {
        return Err(c.fail(
            "FCL 4",
            format!(
                "no iframe points at the frontchannel_logout_uri {fc} (iframes seen: {:?}); the walker {}",
                walk.iframes.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                walk.describe_end()
            ),
        ));
    };
    let params: Vec<(String, String)> = frame.query_pairs().into_owned().collect();
    let iss = param(&params, "iss");
    let sid = param(&params, "sid");
    // FCL 2: iss and sid go together; when the OP supports sessions it sends them.
    if op.flag("frontchannel_logout_session_supported") {
        c.check(
            iss.is_some() && sid.is_some(),
            "FCL 2",
            format!("the iframe URL {frame} lacks iss or sid"),
        );
    }
    if let Some(iss) = iss {
        c.check(
            iss == op.meta.issuer().as_str(),
            "FCL 3",
            format!("iss in the iframe URL is {iss:?}"),
        );
    }
    if let Some(sid) = sid {
        c.check(
            Some(sid) == id.sid(),
            "FCL 3",
            format!(
                "sid in the iframe URL is {sid:?}, the ID Token's is {}",
                shown(id.sid())
            ),
        );
    }
    // Load the iframe as the browser would; the RP must see the same iss and sid.
    let mark = op.rx.mark();
    op.http.get(frame.clone()).send().await?;
    let got = op
        .rx
        .wait_for(mark, frame.path(), std::time::Duration::from_secs(2))
        .await;
    c.require(
        got.first()
            .is_some_and(|r| r.query == frame.query().unwrap_or("")),
        "FCL 4",
        format!("the frontchannel_logout_uri did not receive {frame}"),
    )?;
    if walk.left_to().is_some_and(|u| !same_endpoint(u, &pl)) {
        return Err(c.fail(
            "RP-Initiated Logout 3",
            format!(
                "the OP redirected somewhere unexpected: {}",
                walk.describe_end()
            ),
        ));
    }
    expect_logged_out(op, c, &browser, &client, true).await
}
