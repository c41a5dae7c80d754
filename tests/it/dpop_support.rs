//! A DPoP client's key and proofs (RFC 9449 §4), built here with josekit,
//! independently of the server's checks, and the requests that carry them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jws::{ES256, JwsHeader};
use serde_json::{Value, json};
use signoff::clock::Clock;
use signoff::random::{OsRandom, identifier};

use crate::common::*;

/// A device's P-256 key.
pub struct Device {
    key: EcKeyPair,
}

impl Device {
    pub fn new() -> Self {
        Device {
            key: ES256.generate_key_pair().expect("an ES256 key pair"),
        }
    }

    pub fn public_jwk(&self) -> Value {
        Value::Object(self.key.to_jwk_public_key().into())
    }

    /// RFC 7638 §3: the SHA-256 thumbprint, computed here from the required
    /// members in lexicographic order.
    pub fn jkt(&self) -> String {
        let jwk = self.public_jwk();
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(openssl::sha::sha256(canonical.as_bytes()))
    }

    /// The claims of a fresh proof for `method` at `path` of `server`.
    pub fn claims(&self, server: &TestServer, method: &str, path: &str) -> Value {
        json!({
            "jti": identifier(&OsRandom),
            "htm": method,
            "htu": server.url(path),
            "iat": server.clock.now(),
        })
    }

    /// A proof for `method` at `path`, now.
    pub fn proof(&self, server: &TestServer, method: &str, path: &str) -> String {
        self.sign(&self.claims(server, method, path))
    }

    /// A proof carrying `nonce`.
    pub fn proof_with_nonce(&self, server: &TestServer, path: &str, nonce: &str) -> String {
        let mut claims = self.claims(server, "POST", path);
        claims["nonce"] = json!(nonce);
        self.sign(&claims)
    }

    /// A proof for a request presenting `access_token` (RFC 9449 §4.2 `ath`).
    pub fn proof_for_token(
        &self,
        server: &TestServer,
        method: &str,
        path: &str,
        token: &str,
    ) -> String {
        let mut claims = self.claims(server, method, path);
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(openssl::sha::sha256(token.as_bytes())));
        self.sign(&claims)
    }

    /// `claims` signed by this key with the standard header.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            claims,
            &[("typ", json!("dpop+jwt")), ("jwk", self.public_jwk())],
        )
    }

    /// `claims` signed by this key with exactly these header members (and
    /// `alg: ES256`).
    pub fn sign_with_header(&self, claims: &Value, members: &[(&str, Value)]) -> String {
        let mut header = JwsHeader::new();
        for (name, value) in members {
            header
                .set_claim(name, Some(value.clone()))
                .expect("a header member");
        }
        let signer = ES256
            .signer_from_jwk(&self.key.to_jwk_key_pair())
            .expect("a signer");
        josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, &signer)
            .expect("a signed proof")
    }

    /// The key pair as a JWK, private member `d` included.
    pub fn private_jwk(&self) -> Value {
        Value::Object(self.key.to_jwk_key_pair().into())
    }
}

/// POST /token with a form, optional HTTP Basic credentials and optional
/// DPoP proof.
pub async fn token_with_proof(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = server.http.post(server.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.expect("token request")
}

/// The `service` client's client_credentials grant with a proof.
pub async fn service_token_with(server: &TestServer, proof: Option<&str>) -> reqwest::Response {
    token_with_proof(
        server,
        Some((SERVICE, SERVICE_SECRET)),
        &[("grant_type", "client_credentials")],
        proof,
    )
    .await
}

/// alice signs in at the public `spa` client with offline access; the code
/// is redeemed with a proof by `device`.
pub async fn spa_login(server: &TestServer, device: &Device) -> Value {
    let browser = server.browser();
    let code = code_in(
        &browser,
        server,
        &auth_url(
            server,
            SPA,
            SPA_REDIRECT,
            "openid profile offline_access",
            CHALLENGE,
        ),
    )
    .await;
    let proof = device.proof(server, "POST", "/token");
    token_json(
        token_with_proof(
            server,
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", SPA),
            ],
            Some(&proof),
        )
        .await,
    )
    .await
}

/// The public `spa` client's refresh, with a proof by `device` if any.
pub async fn spa_refresh(
    server: &TestServer,
    refresh_token: &str,
    device: Option<&Device>,
) -> reqwest::Response {
    let proof = device.map(|d| d.proof(server, "POST", "/token"));
    token_with_proof(
        server,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", SPA),
        ],
        proof.as_deref(),
    )
    .await
}

/// GET /userinfo with `Authorization: <scheme> <token>` and an optional
/// proof.
pub async fn userinfo_with(
    server: &TestServer,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .http
        .get(server.url("/userinfo"))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.expect("userinfo request")
}

/// The `WWW-Authenticate` challenges of a response, joined.
pub fn challenges(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}
