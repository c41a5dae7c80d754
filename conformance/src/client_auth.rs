//! How the RP authenticates to the provider's endpoints (RFC 6749 §2.3.1 client secrets,
//! RFC 7523 §2.2 private_key_jwt assertions), and requests sent by hand with it.

use crate::checks::{Halt, Step};
use crate::config::{AuthMethod, ClientCfg};
use crate::op::{Op, Reply};
use serde_json::{Map, Value};
use url::Url;

/// The private key of a private_key_jwt client (its `key` file).
pub fn client_key(client: &ClientCfg) -> Step<crate::proof::SigningKey> {
    let path = client.key.as_ref().ok_or_else(|| {
        Halt::Error(format!(
            "client {} uses private_key_jwt but has no key",
            client.id
        ))
    })?;
    Ok(crate::proof::SigningKey::from_pem_file(path)?)
}

fn basic_auth(req: reqwest::RequestBuilder, client: &ClientCfg) -> reqwest::RequestBuilder {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    req.basic_auth(
        enc(&client.id),
        Some(enc(client.secret.as_deref().unwrap_or(""))),
    )
}

impl Op {
    /// A token request sent by hand, authenticated as `client` says.
    pub async fn token_raw(&self, client: &ClientCfg, form: &[(&str, &str)]) -> Step<Reply> {
        self.authed_post(
            self.meta.token_endpoint().map(|u| u.url().clone()),
            client,
            form,
        )
        .await
    }

    pub async fn authed_post(
        &self,
        endpoint: Option<Url>,
        client: &ClientCfg,
        form: &[(&str, &str)],
    ) -> Step<Reply> {
        let endpoint = endpoint.ok_or_else(|| Halt::Error("no such endpoint".into()))?;
        // RFC 7523 §3: the assertion's audience is the endpoint it is sent to.
        let aud = endpoint.to_string();
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.authed_post_with(endpoint, client, form, &aud, None)
            .await
    }

    /// A POST authenticated as `client` says, with the assertion audience given and an
    /// optional DPoP proof header (RFC 9449 §4.1).
    pub async fn authed_post_with(
        &self,
        endpoint: Url,
        client: &ClientCfg,
        mut form: Vec<(String, String)>,
        aud: &str,
        dpop: Option<&str>,
    ) -> Step<Reply> {
        let mut req = self.http.post(endpoint);
        let has_client_id = form.iter().any(|(k, _)| k == "client_id");
        match client.auth {
            AuthMethod::ClientSecretBasic => req = basic_auth(req, client),
            AuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), client.id.clone()));
                form.push((
                    "client_secret".into(),
                    client.secret.clone().unwrap_or_default(),
                ));
            }
            AuthMethod::None | AuthMethod::PrivateKeyJwt if !has_client_id => {
                form.push(("client_id".into(), client.id.clone()));
            }
            AuthMethod::None | AuthMethod::PrivateKeyJwt => {}
        }
        form.extend(self.assertion_params(client, aud.to_string())?);
        if let Some(proof) = dpop {
            req = req.header("DPoP", proof);
        }
        Reply::read(req.form(&form).send().await?).await
    }

    /// For a private_key_jwt client, client_assertion_type and a fresh client_assertion for
    /// `aud` (RFC 7523 §2.2); nothing for other clients. The caller sends client_id.
    pub fn assertion_params(&self, client: &ClientCfg, aud: String) -> Step<Vec<(String, String)>> {
        if client.auth != AuthMethod::PrivateKeyJwt {
            return Ok(Vec::new());
        }
        let claims = crate::proof::assertion_claims(&client.id, &aud);
        self.signed_assertion_params(client, &claims)
    }

    /// The same with the assertion's claims given (modules that alter them).
    pub fn signed_assertion_params(
        &self,
        client: &ClientCfg,
        claims: &Map<String, Value>,
    ) -> Step<Vec<(String, String)>> {
        let key = client_key(client)?;
        Ok(vec![
            (
                "client_assertion_type".into(),
                crate::proof::ASSERTION_TYPE.into(),
            ),
            (
                "client_assertion".into(),
                crate::proof::sign_assertion(&key, claims),
            ),
        ])
    }

    pub fn token_endpoint(&self) -> Step<Url> {
        self.meta
            .token_endpoint()
            .map(|u| u.url().clone())
            .ok_or_else(|| Halt::Error("the provider has no token_endpoint".into()))
    }
}
