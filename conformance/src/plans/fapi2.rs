//! fapi2-security-profile-final-test-plan[client_auth_type=private_key_jwt]
//! [sender_constrain=dpop][openid=openid_connect][fapi_profile=plain_fapi]: the modules that
//! apply to a provider with PAR (RFC 9126), DPoP (RFC 9449) and private_key_jwt that is not
//! a full FAPI2 profile (see conformance/README.md for the modules not mirrored).
//!
//! Every module uses the `fapi2` client: private_key_jwt, registered with
//! dpop_bound_access_tokens. Authorization requests go through PAR with PKCE S256.

use super::need;
#[path = "fapi2_dpop.rs"]
mod dpop;
use crate::checks::{Checks, Halt, Step, skip};
use crate::config::ClientCfg;
use crate::op::{AuthRequest, Authz, NonceRule, Op, Reply, param};
use crate::proof::{DpopProof, SigningKey};
use serde_json::Value;
use url::Url;

pub const MODULES: &[&str] = &[
    "fapi2-security-profile-final-happy-flow",
    "fapi2-security-profile-final-ensure-holder-of-key-required",
    "fapi2-security-profile-final-dpop-negative-tests",
    "fapi2-security-profile-final-refresh-token",
    "fapi2-security-profile-final-par-attempt-reuse-request_uri",
    "fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client",
    "fapi2-security-profile-final-par-attempt-invalid-http-method",
    "fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param",
];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    let client = need(&op.cfg.fapi2, "fapi2")?.clone();
    let par = op.endpoint("pushed_authorization_request_endpoint")?;
    if !op.advertises("token_endpoint_auth_methods_supported", "private_key_jwt") {
        return skip("token_endpoint_auth_methods_supported does not list private_key_jwt");
    }
    // RFC 9449 §5.1: the provider lists the algorithms it accepts for proofs.
    if !op.advertises("dpop_signing_alg_values_supported", "ES256") {
        return skip("dpop_signing_alg_values_supported does not list ES256");
    }
    let f = Fapi { op, client, par };
    match module {
        "fapi2-security-profile-final-happy-flow" => f.happy_flow(c).await,
        "fapi2-security-profile-final-ensure-holder-of-key-required" => {
            f.holder_of_key_required(c).await
        }
        "fapi2-security-profile-final-dpop-negative-tests" => f.dpop_negative(c).await,
        "fapi2-security-profile-final-refresh-token" => f.refresh_token(c).await,
        "fapi2-security-profile-final-par-attempt-reuse-request_uri" => {
            f.reuse_request_uri(c).await
        }
        "fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client" => {
            f.request_uri_other_client(c).await
        }
        "fapi2-security-profile-final-par-attempt-invalid-http-method" => f.par_put(c).await,
        "fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param" => {
            f.par_with_request_uri(c).await
        }
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

struct Fapi<'a> {
    op: &'a Op,
    client: ClientCfg,
    par: Url,
}

/// What a DPoP-bound token request produced.
struct Bound {
    access_token: String,
    id_token_sub: String,
    key: SigningKey,
}

impl Fapi<'_> {
    /// RFC 9126 §2.1: push the authorization request (client authenticated, PKCE S256,
    /// FAPI2 SP §5.3.2.2); returns the request (for state, nonce, verifier) and request_uri.
    async fn push(&self, c: &mut Checks) -> Step<(AuthRequest, String)> {
        self.push_scope(c, "openid", false).await
    }

    async fn push_scope(
        &self,
        c: &mut Checks,
        scope: &str,
        consent: bool,
    ) -> Step<(AuthRequest, String)> {
        let mut req = self.op.request(&self.client, scope);
        req.with_pkce();
        if consent {
            // OIDC Core 11: offline_access is granted with prompt=consent.
            req.set("prompt", "consent");
        }
        let issuer = self.op.meta.issuer().to_string();
        // FAPI2 SP §5.3.2.1: the issuer is an audience the server accepts at every endpoint.
        let reply = self
            .op
            .authed_post_with(
                self.par.clone(),
                &self.client,
                req.params.clone(),
                &issuer,
                None,
            )
            .await?;
        // RFC 9126 §2.2: 201 Created with request_uri and expires_in.
        c.require(
            reply.status == 201,
            "RFC 9126 2.2",
            format!("the PAR endpoint answered {}", reply.brief()),
        )?;
        let uri = reply
            .str("request_uri")
            .ok_or_else(|| c.fail("RFC 9126 2.2", "the PAR response has no request_uri"))?
            .to_string();
        c.check(
            reply
                .json
                .get("expires_in")
                .and_then(Value::as_i64)
                .is_some_and(|e| e > 0),
            "RFC 9126 2.2",
            "the PAR response has no positive expires_in",
        );
        Ok((req, uri))
    }

    /// RFC 9126 §4: the authorization request carries only client_id and request_uri.
    fn by_reference(&self, pushed: &AuthRequest, client_id: &str, uri: &str) -> AuthRequest {
        let mut req = self.op.request(&self.client, "openid");
        req.params = vec![
            ("client_id".into(), client_id.into()),
            ("request_uri".into(), uri.into()),
        ];
        req.state = pushed.state.clone();
        req.nonce = pushed.nonce.clone();
        req
    }

    /// PAR, the authorization by reference, and the code.
    async fn code(
        &self,
        c: &mut Checks,
        browser: &crate::browser::Browser,
    ) -> Step<(AuthRequest, String)> {
        let (pushed, uri) = self.push(c).await?;
        let req = self.by_reference(&pushed, &self.client.id, &uri);
        let (walk, authz) = self.op.authorize(browser, &req, false).await?;
        let code = self.op.expect_code(c, &req, &walk, authz)?;
        Ok((pushed, code))
    }

    fn code_form(&self, pushed: &mut AuthRequest, code: &str) -> Vec<(String, String)> {
        let mut form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), self.op.cfg.redirect_uri.clone()),
        ];
        if let Some(v) = pushed.verifier.take() {
            form.push(("code_verifier".into(), v.secret().clone()));
        }
        form
    }

    /// A token request with a DPoP proof from `key`, retried once with the server's nonce
    /// when it asks for one (RFC 9449 §8: use_dpop_nonce and a DPoP-Nonce header).
    async fn dpop_token(&self, key: &SigningKey, form: Vec<(String, String)>) -> Step<Reply> {
        let endpoint = self.op.token_endpoint()?;
        let issuer = self.op.meta.issuer().to_string();
        let mut nonce: Option<String> = None;
        for _ in 0..2 {
            let proof = DpopProof::new(key, "POST", endpoint.as_str(), None)
                .nonce(nonce.as_deref())
                .sign(key);
            let reply = self
                .op
                .authed_post_with(
                    endpoint.clone(),
                    &self.client,
                    form.clone(),
                    &issuer,
                    Some(&proof),
                )
                .await?;
            if reply.error() == Some("use_dpop_nonce") && nonce.is_none() {
                nonce = reply.header("dpop-nonce").map(str::to_string);
                if nonce.is_some() {
                    continue;
                }
            }
            return Ok(reply);
        }
        Err(Halt::Error(
            "the token endpoint asked for a DPoP nonce twice".into(),
        ))
    }

    /// The code flow through PAR, and the token request with a DPoP proof.
    async fn bound_tokens(&self, c: &mut Checks) -> Step<Bound> {
        Ok(self.bound_tokens_with(c, "openid", false).await?.0)
    }

    /// The same for `scope`; also returns the refresh token, if one was issued.
    async fn bound_tokens_with(
        &self,
        c: &mut Checks,
        scope: &str,
        consent: bool,
    ) -> Step<(Bound, Option<String>)> {
        let browser = self.op.browser();
        let (pushed, uri) = self.push_scope(c, scope, consent).await?;
        let req = self.by_reference(&pushed, &self.client.id, &uri);
        let (walk, authz) = self.op.authorize(&browser, &req, false).await?;
        let code = self.op.expect_code(c, &req, &walk, authz)?;
        let mut pushed = pushed;
        let key = SigningKey::generate();
        let form = self.code_form(&mut pushed, &code);
        let reply = self.dpop_token(&key, form).await?;
        c.require(
            reply.status == 200,
            "RFC 9449 5",
            format!(
                "the token request with a DPoP proof failed: {}",
                reply.brief()
            ),
        )?;
        // RFC 9449 §5: a DPoP-bound access token has token_type DPoP.
        c.check(
            reply
                .str("token_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("dpop")),
            "RFC 9449 5",
            format!("token_type is {:?}, not DPoP", reply.str("token_type")),
        );
        let access_token = reply
            .str("access_token")
            .ok_or_else(|| c.fail("RFC 6749 5.1", "no access_token"))?
            .to_string();
        let raw = reply
            .str("id_token")
            .ok_or_else(|| c.fail("OIDC Core 3.1.3.3", "no id_token in the token response"))?
            .to_string();
        let nonce = pushed.nonce.clone().unwrap_or_default();
        let id = self
            .op
            .verify_id_token(c, &self.client, &raw, NonceRule::Equals(&nonce), None)?;
        let refresh = reply.str("refresh_token").map(str::to_string);
        Ok((
            Bound {
                access_token,
                id_token_sub: id.sub,
                key,
            },
            refresh,
        ))
    }

    /// UserInfo with `Authorization: DPoP` and a proof `edit` may spoil (RFC 9449 §7.1),
    /// retried once with the server's nonce when it asks for one.
    async fn dpop_userinfo(
        &self,
        b: &Bound,
        scheme: &str,
        edit: &dyn Fn(&mut DpopProof) -> Option<String>,
    ) -> Step<Reply> {
        let endpoint = self.op.endpoint("userinfo_endpoint")?;
        let mut nonce: Option<String> = None;
        for _ in 0..2 {
            let mut proof = DpopProof::new(&b.key, "GET", endpoint.as_str(), Some(&b.access_token))
                .nonce(nonce.as_deref());
            let signed = match edit(&mut proof) {
                Some(replacement) => replacement,
                None => proof.sign(&b.key),
            };
            let resp = self
                .op
                .http
                .get(endpoint.clone())
                .header("Authorization", format!("{scheme} {}", b.access_token))
                .header("DPoP", signed)
                .send()
                .await?;
            let reply = Reply::read(resp).await?;
            let asks_nonce = reply
                .header("www-authenticate")
                .is_some_and(|h| h.contains("use_dpop_nonce"));
            if asks_nonce && nonce.is_none() {
                nonce = reply.header("dpop-nonce").map(str::to_string);
                if nonce.is_some() {
                    continue;
                }
            }
            return Ok(reply);
        }
        Err(Halt::Error("UserInfo asked for a DPoP nonce twice".into()))
    }

    /// FAPI2 SP §5.3.2.2 with DPoP: PAR, code, DPoP-bound tokens, UserInfo with the proof.
    async fn happy_flow(&self, c: &mut Checks) -> Step {
        let b = self.bound_tokens(c).await?;
        let reply = self.dpop_userinfo(&b, "DPoP", &|_| None).await?;
        c.require(
            reply.status == 200,
            "RFC 9449 7.1",
            format!(
                "UserInfo refused the DPoP-bound token with its proof: {}",
                reply.brief()
            ),
        )?;
        let sub = reply.str("sub");
        c.check(
            sub == Some(b.id_token_sub.as_str()),
            "OIDC Core 5.3.2",
            format!("UserInfo sub {sub:?} differs from the ID Token's"),
        );
        Ok(())
    }

    /// RFC 9449 §5 and FAPI2 SP §5.3.2.1-6: a client bound to DPoP gets no token without a
    /// proof. (The suite's TLS checks do not apply to this runner's plain-HTTP loopback.)
    async fn holder_of_key_required(&self, c: &mut Checks) -> Step {
        let browser = self.op.browser();
        let (mut pushed, code) = self.code(c, &browser).await?;
        let form = self.code_form(&mut pushed, &code);
        let endpoint = self.op.token_endpoint()?;
        let issuer = self.op.meta.issuer().to_string();
        let reply = self
            .op
            .authed_post_with(endpoint, &self.client, form, &issuer, None)
            .await?;
        c.require(
            (400..500).contains(&reply.status),
            "FAPI2 SP 5.3.2.1",
            format!(
                "a token request without a DPoP proof for a DPoP-bound client succeeded: {}",
                reply.brief()
            ),
        )?;
        c.check(
            matches!(
                reply.error(),
                Some("invalid_request" | "invalid_grant" | "invalid_dpop_proof")
            ),
            "RFC 6749 5.2, RFC 9449 5",
            format!(
                "the error is {:?}, not invalid_request, invalid_grant or invalid_dpop_proof",
                reply.error()
            ),
        );
        Ok(())
    }

    /// RFC 9126 §7.3: request_uris SHOULD be one-time use; an error is invalid_request_uri
    /// (§2.2 / JAR §7) or the provider's own error page.
    async fn reuse_request_uri(&self, c: &mut Checks) -> Step {
        let browser = self.op.browser();
        let (pushed, uri) = self.push(c).await?;
        let req = self.by_reference(&pushed, &self.client.id, &uri);
        let (walk, authz) = self.op.authorize(&browser, &req, false).await?;
        self.op.expect_code(c, &req, &walk, authz)?;
        let (walk, authz) = self.op.authorize(&browser, &req, false).await?;
        match authz {
            Authz::Error { error, .. } => {
                c.check(
                    error == "invalid_request_uri" || error == "invalid_request",
                    "RFC 9126 2.2",
                    format!("the reused request_uri gave error={error}, not invalid_request_uri"),
                );
            }
            Authz::Code { .. } => {
                c.should(
                    false,
                    "RFC 9126 7.3",
                    "a request_uri was accepted a second time",
                );
            }
            Authz::Page => c.note(
                "RFC 9126 7.3",
                format!("error shown to the user: {}", walk.describe_end()),
            ),
            Authz::Elsewhere(u) => {
                return Err(c.fail("RFC 9126 7.3", format!("the provider redirected to {u}")));
            }
        }
        Ok(())
    }

    /// RFC 9126 §2.2 (request_uri bound to the client that pushed it) and §4.
    async fn request_uri_other_client(&self, c: &mut Checks) -> Step {
        let second = need(&self.op.cfg.second, "second")?.clone();
        let browser = self.op.browser();
        let (pushed, uri) = self.push(c).await?;
        let req = self.by_reference(&pushed, &second.id, &uri);
        let (walk, authz) = self.op.authorize(&browser, &req, false).await?;
        match authz {
            Authz::Code { .. } => Err(c.fail(
                "RFC 9126 4",
                "another client's request_uri was accepted and produced a code",
            )),
            Authz::Error { error, params } => {
                c.check(
                    matches!(
                        error.as_str(),
                        "invalid_request" | "invalid_request_object" | "invalid_request_uri"
                    ),
                    "RFC 9126 4",
                    format!(
                        "error is {error} ({}), not invalid_request, invalid_request_object \
                         or invalid_request_uri",
                        param(&params, "error_description").unwrap_or("")
                    ),
                );
                Ok(())
            }
            Authz::Page => {
                c.note(
                    "RFC 9126 4",
                    format!("error shown to the user: {}", walk.describe_end()),
                );
                Ok(())
            }
            Authz::Elsewhere(u) => {
                Err(c.fail("RFC 9126 4", format!("the provider redirected to {u}")))
            }
        }
    }

    /// RFC 9126 §2.1: the PAR endpoint takes POST only.
    async fn par_put(&self, c: &mut Checks) -> Step {
        let req = self.op.request(&self.client, "openid");
        let resp = self
            .op
            .http
            .put(self.par.clone())
            .form(&req.params)
            .send()
            .await?;
        let status = resp.status().as_u16();
        c.check(
            (400..500).contains(&status),
            "RFC 9126 2.1",
            format!("PUT at the PAR endpoint answered HTTP {status}, not a 4xx error"),
        );
        Ok(())
    }

    /// RFC 9126 §2.1: request_uri MUST NOT be pushed.
    async fn par_with_request_uri(&self, c: &mut Checks) -> Step {
        let mut req = self.op.request(&self.client, "openid");
        req.with_pkce();
        req.set(
            "request_uri",
            "urn:ietf:params:oauth:request_uri:conformance-bad",
        );
        let issuer = self.op.meta.issuer().to_string();
        let reply = self
            .op
            .authed_post_with(
                self.par.clone(),
                &self.client,
                req.params.clone(),
                &issuer,
                None,
            )
            .await?;
        c.check(
            reply.status == 400
                && matches!(
                    reply.error(),
                    Some(
                        "invalid_request" | "invalid_request_object" | "request_uri_not_supported"
                    )
                ),
            "RFC 9126 2.1",
            format!(
                "a pushed request carrying request_uri must fail with 400 invalid_request, got {}",
                reply.brief()
            ),
        );
        Ok(())
    }
}
