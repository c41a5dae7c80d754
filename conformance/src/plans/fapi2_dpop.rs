//! The DPoP modules of the FAPI2 plan that go past the token request: the proof checks at
//! UserInfo (RFC 9449 §4.3, §7.1) and the DPoP-bound refresh (RFC 9449 §5, FAPI2 SP §5.3.2.1).

use super::Fapi;
use crate::checks::{Checks, Step, skip};
use crate::op::UserInfoCall;
use crate::proof::{DpopProof, SigningKey};
use serde_json::Value;

/// Spoils a DPoP proof before it is signed, or returns the whole proof to send instead.
type ProofEdit = Box<dyn Fn(&mut DpopProof) -> Option<String>>;

impl Fapi<'_> {
    /// FAPI2 SP §5.3.2.1 and RFC 9449 §5: a refresh with the proof works and yields a DPoP
    /// token; one without a proof fails; the refresh token is bound to its client (RFC 6749
    /// §6), tried here with the `second` client. (The suite's second FAPI2 client and its
    /// 30-second wait for the rotated-out token are not mirrored.)
    pub(super) async fn refresh_token(&self, c: &mut Checks) -> Step {
        let (b, refresh) = self
            .bound_tokens_with(c, "openid offline_access", true)
            .await?;
        let Some(rt) = refresh else {
            return skip("the provider issued no refresh token for offline_access");
        };
        // RFC 6749 Appendix A.17: the refresh token is VSCHAR (0x20-0x7E).
        c.check(
            rt.bytes().all(|ch| (0x20..=0x7e).contains(&ch)),
            "RFC 6749 A.17",
            "the refresh token has characters outside 0x20-0x7E",
        );
        let form = |rt: &str| {
            vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), rt.to_string()),
            ]
        };
        let refreshed = self.dpop_token(&b.key, form(&rt)).await?;
        c.require(
            refreshed.status == 200,
            "RFC 9449 5",
            format!("a refresh with a DPoP proof failed: {}", refreshed.brief()),
        )?;
        c.check(
            refreshed
                .str("token_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("dpop")),
            "RFC 9449 5",
            format!(
                "the refreshed token_type is {:?}, not DPoP",
                refreshed.str("token_type")
            ),
        );
        let current = refreshed.str("refresh_token").unwrap_or(&rt).to_string();
        // FAPI2 SP §5.3.2.1-6: no sender constraint, no token.
        let issuer = self.op.meta.issuer().to_string();
        let bare = self
            .op
            .authed_post_with(
                self.op.token_endpoint()?,
                &self.client,
                form(&current),
                &issuer,
                None,
            )
            .await?;
        c.check(
            bare.status == 400
                && matches!(
                    bare.error(),
                    Some(
                        "invalid_request"
                            | "invalid_grant"
                            | "invalid_client"
                            | "invalid_dpop_proof"
                    )
                ),
            "FAPI2 SP 5.3.2.1, RFC 6749 5.2",
            format!(
                "a refresh without a DPoP proof for a DPoP-bound client must fail with 400, got {}",
                bare.brief()
            ),
        );
        // RFC 6749 §6: the refresh token was issued to this client and is refused to another.
        if let Some(second) = self.op.cfg.second.clone() {
            let stolen = self
                .op
                .authed_post_with(
                    self.op.token_endpoint()?,
                    &second,
                    form(&current),
                    &issuer,
                    None,
                )
                .await?;
            c.check(
                stolen.status != 200,
                "RFC 6749 6",
                format!(
                    "another client refreshed this client's refresh token: {}",
                    stolen.brief()
                ),
            );
        }
        Ok(())
    }

    /// RFC 9449 §4.3 and §7.1: the checks a resource server makes on a proof, at UserInfo.
    pub(super) async fn dpop_negative(&self, c: &mut Checks) -> Step {
        let b = self.bound_tokens(c).await?;
        let ok = self.dpop_userinfo(&b, "DPoP", &|_| None).await?;
        c.require(
            ok.status == 200,
            "RFC 9449 7.1",
            format!("UserInfo refused a valid proof: {}", ok.brief()),
        )?;
        let other = SigningKey::generate();
        let cases: Vec<(&str, &str, ProofEdit)> = vec![
            (
                "typ is not dpop+jwt",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.header.set_token_type("JWT");
                    None
                }),
            ),
            (
                "no jwk header",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.header.set_claim("jwk", None).expect("header claim");
                    None
                }),
            ),
            (
                "no jti",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims.remove("jti");
                    None
                }),
            ),
            (
                "htm is PUT",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims.insert("htm".into(), "PUT".into());
                    None
                }),
            ),
            (
                "htu is another URL",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims
                        .insert("htu".into(), "https://elsewhere.example/userinfo".into());
                    None
                }),
            ),
            (
                "iat is an hour ahead",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims
                        .insert("iat".into(), (crate::proof::now() + 3600).into());
                    None
                }),
            ),
            (
                "iat is an hour old",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims
                        .insert("iat".into(), (crate::proof::now() - 3600).into());
                    None
                }),
            ),
            (
                "no ath",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims.remove("ath");
                    None
                }),
            ),
            (
                "ath of another token",
                "RFC 9449 4.3",
                Box::new(|p| {
                    p.claims
                        .insert("ath".into(), crate::proof::ath("another-token").into());
                    None
                }),
            ),
            (
                "alg none",
                "RFC 9449 4.3",
                Box::new(|p| {
                    let mut h = serde_json::Map::new();
                    h.insert("typ".into(), "dpop+jwt".into());
                    h.insert("alg".into(), "none".into());
                    if let Some(jwk) = p.header.claim("jwk") {
                        h.insert("jwk".into(), jwk.clone());
                    }
                    let enc = |v: &serde_json::Map<String, Value>| {
                        crate::jwt::b64(&serde_json::to_vec(v).expect("JSON"))
                    };
                    Some(format!("{}.{}.", enc(&h), enc(&p.claims)))
                }),
            ),
            (
                "a broken signature",
                "RFC 9449 4.3",
                Box::new({
                    let key = b.key.clone();
                    move |p| {
                        let signed = p.sign(&key);
                        let (head, sig) = signed.rsplit_once('.').expect("compact JWS");
                        let mut sig: Vec<char> = sig.chars().collect();
                        sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
                        Some(format!("{head}.{}", sig.into_iter().collect::<String>()))
                    }
                }),
            ),
            (
                "signed by a key the token is not bound to",
                "RFC 9449 7.1",
                Box::new({
                    let other = other.clone();
                    move |p| {
                        p.header
                            .set_claim(
                                "jwk",
                                Some(Value::Object(other.public_jwk().as_ref().clone())),
                            )
                            .expect("header claim");
                        Some(p.sign(&other))
                    }
                }),
            ),
        ];
        for (what, spec, edit) in &cases {
            let reply = self.dpop_userinfo(&b, "DPoP", edit.as_ref()).await?;
            c.check(
                reply.status == 400 || reply.status == 401,
                spec,
                format!(
                    "UserInfo accepted a DPoP proof with {what}: {}",
                    reply.brief()
                ),
            );
        }
        // RFC 9449 §7.1: a DPoP-bound token is not a bearer token.
        let bearer = self
            .op
            .userinfo(&b.access_token, UserInfoCall::GetHeader)
            .await?;
        c.check(
            bearer.status == 400 || bearer.status == 401,
            "RFC 9449 7.1",
            format!(
                "UserInfo accepted the DPoP-bound token as a Bearer token: {}",
                bearer.brief()
            ),
        );
        // RFC 9449 §11.1: a replayed proof (same jti) SHOULD be refused.
        let jti = crate::proof::random_value();
        let fixed = move |p: &mut DpopProof| {
            p.claims.insert("jti".into(), jti.clone().into());
            None
        };
        let first = self.dpop_userinfo(&b, "DPoP", &fixed).await?;
        c.check(
            first.status == 200,
            "RFC 9449 7.1",
            format!("UserInfo refused a fresh proof: {}", first.brief()),
        );
        let again = self.dpop_userinfo(&b, "DPoP", &fixed).await?;
        c.should(
            again.status == 400 || again.status == 401,
            "RFC 9449 11.1",
            format!(
                "UserInfo accepted a replayed proof (same jti): {}",
                again.brief()
            ),
        );
        Ok(())
    }
}
