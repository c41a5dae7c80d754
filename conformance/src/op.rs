//! The relying party: discovery, authorization requests walked by the browser, token and
//! userinfo requests, and ID Token validation, through the `openidconnect` crate where
//! it has the piece, and plain HTTP where a test must see the raw exchange.

use crate::browser::{Browser, Credentials, Walk};
use crate::checks::{Checks, Halt, Step, shown};
use crate::config::{AuthMethod, ClientCfg, Config};
use crate::jwt::Jwt;
use crate::receiver::Receiver;
use openidconnect::core::{CoreClient, CoreIdToken};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IdTokenVerifier, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, TokenResponse,
};
use serde_json::{Map, Value};
use std::str::FromStr;
use url::Url;

/// openidconnect's client as discovery leaves it: authorization endpoint set; token and
/// UserInfo endpoints present if the provider advertises them.
pub type RpClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

#[derive(Clone)]
pub struct Op {
    pub cfg: Config,
    pub issuer: Url,
    /// The discovery document as openidconnect validated it (issuer match, JWKS fetched).
    pub meta: ProviderMetadataWithLogout,
    /// The same document as raw JSON, for fields openidconnect does not model.
    pub raw: Value,
    /// No cookies, no redirects: the RP's back-channel client.
    pub http: reqwest::Client,
    pub rx: Receiver,
}

/// An HTTP answer kept whole, for tests that judge status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub async fn read(resp: reqwest::Response) -> Step<Reply> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            text,
            json,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> Option<&str> {
        self.json.get("error").and_then(Value::as_str)
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.json.get(field).and_then(Value::as_str)
    }

    pub fn brief(&self) -> String {
        format!(
            "HTTP {} {}",
            self.status,
            self.text.chars().take(200).collect::<String>()
        )
    }
}

/// How the expected nonce is checked in an ID Token.
pub enum NonceRule<'a> {
    Equals(&'a str),
    Absent,
    Any,
}

/// An ID Token that passed validation.
#[derive(Clone, Debug)]
pub struct IdTok {
    pub raw: String,
    pub jwt: Jwt,
    pub sub: String,
}

impl IdTok {
    pub fn auth_time(&self) -> Option<i64> {
        self.jwt.num_claim("auth_time")
    }
    pub fn sid(&self) -> Option<&str> {
        self.jwt.str_claim("sid")
    }
}

pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: IdTok,
}

/// An authentication request under construction (OIDC Core 3.1.2.1).
pub struct AuthRequest {
    pub client: ClientCfg,
    pub params: Vec<(String, String)>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub verifier: Option<PkceCodeVerifier>,
}

impl AuthRequest {
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.params.retain(|(k, _)| k != key);
        self.params.push((key.to_string(), value.into()));
        if key == "state" {
            self.state = self.get("state").map(str::to_string);
        }
        if key == "nonce" {
            self.nonce = self.get("nonce").map(str::to_string);
        }
        self
    }

    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.params.retain(|(k, _)| k != key);
        match key {
            "state" => self.state = None,
            "nonce" => self.nonce = None,
            _ => {}
        }
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Adds a PKCE S256 challenge (RFC 7636 §4.2) and keeps the verifier for the exchange.
    pub fn with_pkce(&mut self) -> &mut Self {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        self.set("code_challenge", challenge.as_str());
        self.set("code_challenge_method", "S256");
        self.verifier = Some(verifier);
        self
    }

    pub fn url(&self, endpoint: &Url) -> Url {
        let mut u = endpoint.clone();
        u.query_pairs_mut().extend_pairs(self.params.iter());
        u
    }
}

/// What came back to the RP's redirect_uri, or what happened instead.
pub enum Authz {
    Code {
        code: String,
        params: Vec<(String, String)>,
    },
    Error {
        error: String,
        params: Vec<(String, String)>,
    },
    /// The provider sent the user somewhere that is not the redirect_uri.
    Elsewhere(Url),
    /// The provider kept the user on one of its pages (e.g. an error page).
    Page,
}

pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Whether `u` is `base` with, at most, a query added: the same scheme, host, port and path.
pub fn same_endpoint(u: &Url, base: &str) -> bool {
    let Ok(base) = Url::parse(base) else {
        return false;
    };
    u.scheme() == base.scheme()
        && u.host_str() == base.host_str()
        && u.port_or_known_default() == base.port_or_known_default()
        && u.path() == base.path()
}

impl Op {
    pub async fn discover(cfg: Config, rx: Receiver) -> Result<Op, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        let issuer_url =
            IssuerUrl::new(cfg.issuer.clone()).map_err(|e| format!("--issuer: {e}"))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer_url, &http)
            .await
            .map_err(|e| format!("discovery failed (OIDC Discovery 4): {e}"))?;
        let doc_url = format!(
            "{}/.well-known/openid-configuration",
            cfg.issuer.trim_end_matches('/')
        );
        let raw: Value = http
            .get(&doc_url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let issuer = Url::parse(&cfg.issuer).map_err(|e| e.to_string())?;
        Ok(Op {
            cfg,
            issuer,
            meta,
            raw,
            http,
            rx,
        })
    }

    /// Whether the discovery array `field` lists `value`.
    pub fn advertises(&self, field: &str, value: &str) -> bool {
        self.raw
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == value))
    }

    pub fn flag(&self, field: &str) -> bool {
        self.raw.get(field) == Some(&Value::Bool(true))
    }

    /// An endpoint from discovery, or a SKIPPED module when the provider has none.
    pub fn endpoint(&self, field: &str) -> Step<Url> {
        self.raw
            .get(field)
            .and_then(Value::as_str)
            .and_then(|s| Url::parse(s).ok())
            .ok_or_else(|| Halt::Skip(format!("the provider does not advertise {field}")))
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.issuer, self.cfg.verbose)
    }

    pub fn creds(&self) -> Credentials<'_> {
        Credentials {
            username: &self.cfg.username,
            password: &self.cfg.password,
        }
    }

    pub fn request(&self, client: &ClientCfg, scope: &str) -> AuthRequest {
        let mut r = AuthRequest {
            client: client.clone(),
            params: Vec::new(),
            state: None,
            nonce: None,
            verifier: None,
        };
        r.set("response_type", "code")
            .set("client_id", client.id.as_str())
            .set("redirect_uri", self.cfg.redirect_uri.as_str())
            .set("scope", scope)
            .set("state", CsrfToken::new_random().secret().as_str())
            .set("nonce", Nonce::new_random().secret().as_str());
        if let Some(mode) = self.cfg.response_mode {
            r.set("response_mode", mode);
        }
        r
    }

    /// Sends the End-User to the authorization endpoint (GET, or POST per OIDC Core 3.1.2.1)
    /// and reads what reaches the redirect_uri.
    pub async fn authorize(
        &self,
        browser: &Browser,
        req: &AuthRequest,
        by_post: bool,
    ) -> Step<(Walk, Authz)> {
        let endpoint = self.meta.authorization_endpoint().url().clone();
        let walk = if by_post {
            browser
                .post(endpoint, req.params.clone(), &self.creds())
                .await?
        } else {
            browser.get(req.url(&endpoint), &self.creds()).await?
        };
        let authz = match walk.left_to() {
            Some(u) if same_endpoint(u, &self.cfg.redirect_uri) => {
                // OAuth 2.0 Form Post Response Mode §2: the parameters are in a POST body.
                let params: Vec<(String, String)> = match &walk.posted {
                    Some(form) => form.clone(),
                    None => u.query_pairs().into_owned().collect(),
                };
                if let Some(code) = param(&params, "code") {
                    Authz::Code {
                        code: code.to_string(),
                        params,
                    }
                } else if let Some(error) = param(&params, "error") {
                    Authz::Error {
                        error: error.to_string(),
                        params,
                    }
                } else {
                    Authz::Elsewhere(u.clone())
                }
            }
            Some(u) => Authz::Elsewhere(u.clone()),
            None => Authz::Page,
        };
        Ok((walk, authz))
    }

    /// Expects a successful authorization response and returns the code.
    pub fn expect_code(
        &self,
        c: &mut Checks,
        req: &AuthRequest,
        walk: &Walk,
        authz: Authz,
    ) -> Step<String> {
        match authz {
            Authz::Code { code, params } => {
                self.check_response_mode(c, req, walk)?;
                // RFC 6749 §4.1.2: state is returned exactly as sent.
                c.check(
                    param(&params, "state") == req.state.as_deref(),
                    "RFC 6749 4.1.2",
                    format!(
                        "state in the authorization response is {}, sent {}",
                        shown(param(&params, "state")),
                        shown(req.state.as_deref())
                    ),
                );
                self.check_iss_param(c, &params);
                Ok(code)
            }
            Authz::Error { error, params } => Err(c.fail(
                "OIDC Core 3.1.2.5",
                format!(
                    "expected an authorization code, the provider returned error={error} ({})",
                    param(&params, "error_description").unwrap_or("")
                ),
            )),
            Authz::Elsewhere(u) => Err(c.fail(
                "OIDC Core 3.1.2.5",
                format!("expected a redirect to the redirect_uri with a code, got one to {u}"),
            )),
            Authz::Page => Err(c.fail(
                "OIDC Core 3.1.2.5",
                format!(
                    "expected a redirect to the redirect_uri with a code; the walker {}",
                    walk.describe_end()
                ),
            )),
        }
    }

    /// The authorization response came the way the request asked: in the query (RFC 6749
    /// §4.1.2, the code flow's default) or as a form POSTed by the browser (OAuth 2.0 Form
    /// Post Response Mode §2).
    pub fn check_response_mode(&self, c: &mut Checks, req: &AuthRequest, walk: &Walk) -> Step {
        match (req.get("response_mode"), walk.posted.is_some()) {
            (Some("form_post"), false) => Err(c.fail(
                "OAuth 2.0 Form Post Response Mode 2",
                "response_mode=form_post was requested but the response came in the \
                 redirect_uri's query, not in a POSTed form",
            )),
            (Some("form_post"), true) | (_, false) => Ok(()),
            (_, true) => Err(c.fail(
                "RFC 6749 4.1.2",
                "the response was POSTed to the redirect_uri though no response_mode asked for it",
            )),
        }
    }

    /// RFC 9207 §2.4: when the provider returns `iss`, it is its issuer identifier.
    pub fn check_iss_param(&self, c: &mut Checks, params: &[(String, String)]) {
        if let Some(iss) = param(params, "iss") {
            c.check(
                iss == self.meta.issuer().as_str(),
                "RFC 9207 2.4",
                format!("iss in the authorization response is {iss:?}, not the issuer"),
            );
        } else {
            c.check(
                !self.flag("authorization_response_iss_parameter_supported"),
                "RFC 9207 2.4",
                "discovery advertises authorization_response_iss_parameter_supported \
                 but the response has no iss",
            );
        }
    }

    /// An openidconnect client for `client`, authenticating as its configuration says.
    pub fn oidc_client(&self, client: &ClientCfg) -> Step<RpClient> {
        let redirect = RedirectUrl::new(self.cfg.redirect_uri.clone())
            .map_err(|e| Halt::Error(format!("redirect_uri: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            self.meta.clone(),
            ClientId::new(client.id.clone()),
            client.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(match client.auth {
            AuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            _ => AuthType::RequestBody,
        }))
    }

    /// The authorization code grant through openidconnect (OIDC Core 3.1.3), then the
    /// ID Token validation of 3.1.3.7.
    pub async fn exchange(
        &self,
        c: &mut Checks,
        req: &mut AuthRequest,
        code: &str,
        nonce: NonceRule<'_>,
    ) -> Step<Tokens> {
        let client = self.oidc_client(&req.client)?;
        let mut token_req = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| Halt::Error(format!("no token endpoint: {e}")))?;
        if let Some(v) = req.verifier.take() {
            token_req = token_req.set_pkce_verifier(v);
        }
        for (k, v) in self.assertion_params(&req.client, self.token_endpoint()?.to_string())? {
            token_req = token_req.add_extra_param(k, v);
        }
        let resp = match token_req.request_async(&self.http).await {
            Ok(r) => r,
            Err(RequestTokenError::ServerResponse(e)) => {
                return Err(c.fail(
                    "OIDC Core 3.1.3.3",
                    format!("the token endpoint refused the code: {e}"),
                ));
            }
            Err(e) => {
                return Err(c.fail(
                    "OIDC Core 3.1.3.3",
                    format!("the token response is not a valid RFC 6749 5.1 response: {e:?}"),
                ));
            }
        };
        // OIDC Core 3.1.3.3: token_type is Bearer (compared case-insensitively, RFC 6749 §5.1).
        c.check(
            resp.token_type().as_ref().eq_ignore_ascii_case("bearer"),
            "OIDC Core 3.1.3.3",
            format!("token_type is {:?}, not Bearer", resp.token_type().as_ref()),
        );
        let Some(id_token) = resp.id_token() else {
            return Err(c.fail(
                "OIDC Core 3.1.3.3",
                "the token response of an openid request has no id_token",
            ));
        };
        let access_token = resp.access_token().secret().clone();
        let id_token = self.verify_id_token(
            c,
            &req.client,
            &id_token.to_string(),
            nonce,
            Some(&access_token),
        )?;
        Ok(Tokens {
            access_token,
            refresh_token: resp.refresh_token().map(|r| r.secret().clone()),
            id_token,
        })
    }

    /// Authorize (the walker logs in and consents as needed), exchange the code, validate.
    pub async fn code_flow(
        &self,
        c: &mut Checks,
        browser: &Browser,
        mut req: AuthRequest,
    ) -> Step<(Walk, Tokens)> {
        let (walk, authz) = self.authorize(browser, &req, false).await?;
        let code = self.expect_code(c, &req, &walk, authz)?;
        let nonce = req.nonce.clone();
        let rule = match &nonce {
            Some(n) => NonceRule::Equals(n),
            None => NonceRule::Absent,
        };
        let tokens = self.exchange(c, &mut req, &code, rule).await?;
        Ok((walk, tokens))
    }

    /// ID Token validation, OIDC Core 3.1.3.7 (openidconnect's verifier) plus the claim
    /// rules of OIDC Core 2 and 3.1.3.6 it leaves to the caller.
    pub fn verify_id_token(
        &self,
        c: &mut Checks,
        client: &ClientCfg,
        raw: &str,
        nonce: NonceRule<'_>,
        access_token: Option<&str>,
    ) -> Step<IdTok> {
        let token = CoreIdToken::from_str(raw)
            .map_err(|e| c.fail("OIDC Core 2", format!("the ID Token does not parse: {e}")))?;
        let jwt = Jwt::decode(raw).map_err(|e| c.fail("OIDC Core 2", e))?;
        let unsigned = jwt.alg() == "none";
        let mut verifier = IdTokenVerifier::new_confidential_client(
            ClientId::new(client.id.clone()),
            ClientSecret::new(client.secret.clone().unwrap_or_default()),
            self.meta.issuer().clone(),
            self.meta.jwks().clone(),
        )
        .allow_any_alg();
        if unsigned {
            // OIDC Core 3.1.3.7 step 6: an unsigned token is acceptable only from the token
            // endpoint, only for a client that registered alg none (checked by the caller).
            verifier = verifier.insecure_disable_signature_check();
        }
        let expected = match nonce {
            NonceRule::Equals(n) => Some(Some(n.to_string())),
            NonceRule::Absent => Some(None),
            NonceRule::Any => None,
        };
        let claims = token
            .claims(&verifier, |got: Option<&Nonce>| match &expected {
                None => Ok(()),
                Some(want) if want.as_deref() == got.map(|n| n.secret().as_str()) => Ok(()),
                Some(want) => Err(format!(
                    "nonce is {}, expected {} (OIDC Core 3.1.3.7 step 11, 3.1.2.1)",
                    shown(got.map(|n| n.secret().as_str())),
                    shown(want.as_deref())
                )),
            })
            .map_err(|e| {
                c.fail(
                    "OIDC Core 3.1.3.7",
                    format!("the ID Token does not validate: {e}"),
                )
            })?;
        let sub = claims.subject().as_str().to_string();
        // OIDC Core 2: sub is at most 255 ASCII characters.
        c.check(
            !sub.is_empty() && sub.len() <= 255 && sub.is_ascii(),
            "OIDC Core 2",
            format!("sub {sub:?} is not 1 to 255 ASCII characters"),
        );
        c.check(
            claims.expiration() > claims.issue_time(),
            "OIDC Core 2",
            "exp is not after iat",
        );
        if !unsigned {
            // OIDC Discovery 3: the alg used is one the provider advertises.
            c.check(
                self.advertises("id_token_signing_alg_values_supported", jwt.alg()),
                "OIDC Discovery 3",
                format!(
                    "the ID Token is signed with {} which id_token_signing_alg_values_supported \
                     does not list",
                    jwt.alg()
                ),
            );
            if let (Some(hash), Some(at)) = (claims.access_token_hash(), access_token) {
                // OIDC Core 3.1.3.8: at_hash, when present, matches the access token.
                let ok = token
                    .signing_key(&verifier)
                    .ok()
                    .zip(token.signing_alg().ok())
                    .and_then(|(key, alg)| {
                        AccessTokenHash::from_token(&AccessToken::new(at.to_string()), alg, key)
                            .ok()
                    })
                    .is_some_and(|h| &h == hash);
                c.check(
                    ok,
                    "OIDC Core 3.1.3.8",
                    "at_hash does not match the access token",
                );
            }
        }
        Ok(IdTok {
            raw: raw.to_string(),
            jwt,
            sub,
        })
    }

    /// Calls the UserInfo endpoint (OIDC Core 5.3.1) the way `how` says.
    pub async fn userinfo(&self, access_token: &str, how: UserInfoCall) -> Step<Reply> {
        let endpoint = self.endpoint("userinfo_endpoint")?;
        let req = match how {
            UserInfoCall::GetHeader => self.http.get(endpoint).bearer_auth(access_token),
            UserInfoCall::PostHeader => self.http.post(endpoint).bearer_auth(access_token),
            // RFC 6750 §2.2: the form-encoded body parameter.
            UserInfoCall::PostBody => self
                .http
                .post(endpoint)
                .form(&[("access_token", access_token)]),
        };
        Reply::read(req.send().await?).await
    }

    /// UserInfo that must succeed: 200, JSON, and the sub of the ID Token (OIDC Core 5.3.2).
    pub async fn userinfo_claims(
        &self,
        c: &mut Checks,
        tokens: &Tokens,
        how: UserInfoCall,
    ) -> Step<Map<String, Value>> {
        let reply = self.userinfo(&tokens.access_token, how).await?;
        c.require(
            reply.status == 200,
            "OIDC Core 5.3.2",
            format!("UserInfo ({how:?}) answered {}", reply.brief()),
        )?;
        // OIDC Core 5.3.2: a JSON object served as application/json (no JWT was registered).
        c.check(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "OIDC Core 5.3.2",
            format!(
                "UserInfo Content-Type is {}",
                shown(reply.header("content-type"))
            ),
        );
        let Value::Object(claims) = reply.json else {
            if reply.text.split('.').count() == 3 {
                return Err(c.fail(
                    "OIDC Core 5.3.2",
                    "UserInfo returned a JWT though the client registered none",
                ));
            }
            return Err(c.fail("OIDC Core 5.3.2", "UserInfo did not return a JSON object"));
        };
        let sub = claims.get("sub").and_then(Value::as_str);
        c.require(
            sub == Some(tokens.id_token.sub.as_str()),
            "OIDC Core 5.3.2",
            format!(
                "UserInfo sub {} differs from the ID Token's {:?}",
                shown(sub),
                tokens.id_token.sub
            ),
        )?;
        Ok(claims)
    }
}

#[derive(Clone, Copy, Debug)]
pub enum UserInfoCall {
    GetHeader,
    PostHeader,
    PostBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_endpoint_ignores_only_the_query() {
        let base = "http://127.0.0.1:8975/cb";
        assert!(same_endpoint(
            &Url::parse("http://127.0.0.1:8975/cb?code=x").unwrap(),
            base
        ));
        assert!(!same_endpoint(
            &Url::parse("http://127.0.0.1:8975/cb2").unwrap(),
            base
        ));
        assert!(!same_endpoint(
            &Url::parse("http://127.0.0.1:8976/cb").unwrap(),
            base
        ));
    }
}
