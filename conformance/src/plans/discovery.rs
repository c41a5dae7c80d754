//! Config OP (oidcc-config-certification-test-plan): the discovery document and JWKS.

use crate::checks::{Checks, Halt, Step};
use crate::op::Op;
use serde_json::Value;
use url::Url;

pub const MODULES: &[&str] = &["oidcc-discovery-endpoint-verification"];

pub async fn run(module: &str, op: &Op, c: &mut Checks) -> Step {
    match module {
        "oidcc-discovery-endpoint-verification" => verify(op, c).await,
        _ => Err(Halt::Error(format!("no module {module}"))),
    }
}

/// OIDC Discovery 3: members that MUST be present.
const REQUIRED: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];

/// OIDC Discovery 3: members that are RECOMMENDED. (registration_endpoint is too, for
/// Dynamic OPs; a Basic/Config OP with static clients is only noted for lacking it.)
const RECOMMENDED: &[&str] = &["userinfo_endpoint", "scopes_supported", "claims_supported"];

const URL_MEMBERS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "end_session_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "check_session_iframe",
];

const BOOLEAN_MEMBERS: &[&str] = &[
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "frontchannel_logout_supported",
    "frontchannel_logout_session_supported",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    "authorization_response_iss_parameter_supported",
];

const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn is_loopback(u: &Url) -> bool {
    matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// OIDC Discovery 3: https URLs; plain http is tolerated, with a note, on loopback only.
fn check_url(c: &mut Checks, name: &str, value: &str) -> Option<Url> {
    let Ok(u) = Url::parse(value) else {
        c.check(
            false,
            "OIDC Discovery 3",
            format!("{name} is not a URL: {value:?}"),
        );
        return None;
    };
    if u.scheme() != "https" {
        c.check(
            is_loopback(&u),
            "OIDC Discovery 3",
            format!("{name} does not use https: {value}"),
        );
    }
    Some(u)
}

async fn verify(op: &Op, c: &mut Checks) -> Step {
    let url = format!(
        "{}/.well-known/openid-configuration",
        op.cfg.issuer.trim_end_matches('/')
    );
    let resp = op.http.get(&url).send().await?;
    // OIDC Discovery 4.2: 200 with application/json.
    c.require(
        resp.status() == 200,
        "OIDC Discovery 4.2",
        format!("{url} answered {}", resp.status()),
    )?;
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    c.check(
        ctype.starts_with("application/json"),
        "OIDC Discovery 4.2",
        format!("Content-Type is {ctype:?}, not application/json"),
    );
    let doc: Value = resp
        .json()
        .await
        .map_err(|e| c.fail("OIDC Discovery 4.2", format!("not JSON: {e}")))?;
    let Some(obj) = doc.as_object() else {
        return Err(c.fail("OIDC Discovery 4.2", "the document is not a JSON object"));
    };

    for m in REQUIRED {
        c.check(
            obj.contains_key(*m),
            "OIDC Discovery 3",
            format!("REQUIRED member {m} is missing"),
        );
    }
    for m in RECOMMENDED {
        c.should(
            obj.contains_key(*m),
            "OIDC Discovery 3",
            format!("RECOMMENDED member {m} is missing"),
        );
    }

    if !obj.contains_key("registration_endpoint") {
        c.note(
            "OIDC Discovery 3",
            "no registration_endpoint (RECOMMENDED for Dynamic OPs): static clients only",
        );
    }

    // OIDC Discovery 4.3: the issuer returned MUST be identical to the one used.
    let issuer = obj.get("issuer").and_then(Value::as_str).unwrap_or("");
    c.check(
        issuer == op.cfg.issuer,
        "OIDC Discovery 4.3",
        format!("issuer {issuer:?} differs from {:?}", op.cfg.issuer),
    );
    if let Some(u) = check_url(c, "issuer", issuer) {
        c.check(
            u.query().is_none() && u.fragment().is_none(),
            "OIDC Discovery 3",
            "issuer has a query or fragment",
        );
    }
    for m in URL_MEMBERS {
        if let Some(v) = obj.get(*m) {
            match v.as_str() {
                Some(s) => {
                    check_url(c, m, s);
                }
                None => {
                    c.check(false, "OIDC Discovery 3", format!("{m} is not a string"));
                }
            }
        }
    }
    for m in BOOLEAN_MEMBERS {
        if let Some(v) = obj.get(*m) {
            c.check(
                v.is_boolean(),
                "OIDC Discovery 3",
                format!("{m} is not a boolean: {v}"),
            );
        }
    }
    for (name, v) in obj {
        if name.ends_with("_supported") && !BOOLEAN_MEMBERS.contains(&name.as_str()) {
            c.check(
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "OIDC Discovery 3",
                format!("{name} is not an array of strings"),
            );
        }
    }

    // OIDC Core 3: a Basic OP serves the code flow.
    c.check(
        op.advertises("response_types_supported", "code"),
        "OIDC Core 3",
        "response_types_supported does not list code",
    );
    // OIDC Discovery 3: RS256 MUST be listed.
    c.check(
        op.advertises("id_token_signing_alg_values_supported", "RS256"),
        "OIDC Discovery 3",
        "id_token_signing_alg_values_supported does not list RS256",
    );
    if let Some(types) = obj.get("subject_types_supported").and_then(Value::as_array) {
        c.check(
            !types.is_empty() && types.iter().all(|t| t == "public" || t == "pairwise"),
            "OIDC Discovery 3",
            "subject_types_supported holds values other than public and pairwise",
        );
    }
    if obj.contains_key("scopes_supported") {
        // OIDC Discovery 3: the server MUST support the openid scope.
        c.check(
            op.advertises("scopes_supported", "openid"),
            "OIDC Discovery 3",
            "scopes_supported does not list openid",
        );
    }
    if obj.contains_key("grant_types_supported") {
        c.check(
            op.advertises("grant_types_supported", "authorization_code"),
            "OIDC Discovery 3",
            "grant_types_supported does not list authorization_code",
        );
    }
    if let Some(modes) = obj.get("response_modes_supported") {
        c.check(
            op.advertises("response_modes_supported", "query"),
            "OAuth 2.0 Multiple Response Types 2.1",
            format!("response_modes_supported {modes} lacks query, the code flow's default"),
        );
    }

    jwks(op, c, obj.get("jwks_uri").and_then(Value::as_str)).await
}

/// RFC 7517 §5 and OIDC Core 10.1.1: the JWKS is reachable, well-formed and public.
async fn jwks(op: &Op, c: &mut Checks, uri: Option<&str>) -> Step {
    let Some(uri) = uri else {
        return Err(c.fail("OIDC Discovery 3", "no jwks_uri"));
    };
    let resp = op.http.get(uri).send().await?;
    c.require(
        resp.status() == 200,
        "OIDC Discovery 3",
        format!("jwks_uri {uri} answered {}", resp.status()),
    )?;
    let set: Value = resp
        .json()
        .await
        .map_err(|e| c.fail("RFC 7517 5", format!("the JWKS is not JSON: {e}")))?;
    let Some(keys) = set.get("keys").and_then(Value::as_array) else {
        return Err(c.fail("RFC 7517 5", "the JWKS has no keys array"));
    };
    c.require(!keys.is_empty(), "OIDC Core 10.1", "the JWKS holds no keys")?;
    let mut kids = Vec::new();
    let mut has_rsa_sig = false;
    for (i, key) in keys.iter().enumerate() {
        let kty = key.get("kty").and_then(Value::as_str).unwrap_or("");
        c.check(
            !kty.is_empty(),
            "RFC 7517 4.1",
            format!("key {i} has no kty"),
        );
        for private in PRIVATE_JWK_MEMBERS {
            c.check(
                key.get(*private).is_none(),
                "RFC 7517 9.2",
                format!("key {i} publishes private or symmetric material ({private})"),
            );
        }
        if kty == "RSA" {
            c.check(
                key.get("n").is_some_and(Value::is_string)
                    && key.get("e").is_some_and(Value::is_string),
                "RFC 7518 6.3.1",
                format!("RSA key {i} lacks n or e"),
            );
        }
        if kty == "EC" {
            c.check(
                ["crv", "x", "y"].iter().all(|m| key.get(*m).is_some()),
                "RFC 7518 6.2.1",
                format!("EC key {i} lacks crv, x or y"),
            );
        }
        let usage = key.get("use").and_then(Value::as_str);
        if let Some(u) = usage {
            c.check(
                u == "sig" || u == "enc",
                "RFC 7517 4.2",
                format!("key {i} has use {u:?}"),
            );
        }
        if kty == "RSA" && usage != Some("enc") {
            has_rsa_sig = true;
        }
        if let Some(kid) = key.get("kid").and_then(Value::as_str) {
            kids.push(kid.to_string());
        }
    }
    c.check(
        has_rsa_sig,
        "OIDC Core 15.1",
        "no RSA signing key is published, so RS256 ID Tokens cannot be verified",
    );
    let mut unique = kids.clone();
    unique.sort();
    unique.dedup();
    c.should(
        unique.len() == kids.len(),
        "RFC 7517 4.5",
        "several keys share a kid",
    );
    if keys.len() > 1 {
        c.should(
            kids.len() == keys.len(),
            "OIDC Core 10.1",
            "the JWKS has several keys and some have no kid",
        );
    }
    Ok(())
}
