//! Token introspection (RFC 7662) at `POST /introspect`, for confidential
//! clients: each may introspect its own tokens, and a resource server
//! (registered with `--introspect AUDIENCE`) the access tokens issued for
//! its audiences (README, "Introspection policy").

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::OAuthError;
use crate::http::extract::Params;
use crate::http::headers::no_store;
use crate::oidc::client_auth::AuthenticatedClient;
use crate::oidc::introspection_jwt;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::tokens::access_token;
use crate::tokens::validate::{self, ActiveToken, Hint, TokenType};

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Response {
    let answer = match handle(&state, &client, &params).await {
        // RFC 9701 §4: signed when the caller asks for it.
        Ok(body) => {
            let active = body["active"] == true;
            crate::metrics::introspection(if active { "active" } else { "inactive" });
            if introspection_jwt::wanted(&headers) {
                introspection_jwt::respond(&state, &client, &body)
            } else {
                Ok(no_store(Json(body).into_response()))
            }
        }
        Err(e) => Err(e),
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn handle(state: &AppState, caller: &Client, params: &Params) -> Result<Value, OAuthError> {
    // RFC 7662 §2.1 and §4: the caller must be authorized; a public client
    // cannot prove who it is, so it is refused like a failed login.
    if caller.is_public() {
        return Err(OAuthError::InvalidClient(
            "introspection requires a confidential client".into(),
        ));
    }
    let token = params.require("token")?;
    let hint = Hint::parse(params.get("token_type_hint"));
    let Some(active) = validate::any_token(state, token, hint).await? else {
        // RFC 7662 §2.2: an inactive token reveals nothing else.
        return Ok(json!({ "active": false }));
    };
    // RFC 7662 §4: a caller not entitled to this token learns nothing about
    // it, not even that it exists.
    if !may_introspect(caller, &active) {
        tracing::info!(client_id = %caller.id, "introspection of a token the caller may not see");
        return Ok(json!({ "active": false }));
    }
    let mut body = json!({
        "active": true,
        "scope": active.scope.to_string(),
        "client_id": active.client_id,
        // RFC 9449 §6.2: a bound access token is of type DPoP.
        "token_type": match active.token_type {
            TokenType::Access => access_token::token_type(active.jkt.as_deref()),
            TokenType::Refresh => "refresh_token",
        },
        "exp": active.exp,
        "iat": active.iat,
        "sub": active.sub,
        "iss": state.config.issuer_str(),
    });
    let obj = body.as_object_mut().expect("a JSON object");
    // The name is a profile claim (OpenID Core §5.4): released only with
    // that scope, as at /userinfo.
    if let Some(user) = &active.user
        && active.scope.contains("profile")
    {
        obj.insert("username".into(), json!(user.username));
    }
    if let Some(aud) = &active.aud {
        obj.insert("aud".into(), json!(aud));
    }
    if let Some(jti) = &active.jti {
        obj.insert("jti".into(), json!(jti));
    }
    if let Some(sid) = &active.sid {
        obj.insert("sid".into(), json!(sid));
    }
    // What a resource server holding an opaque token needs to match the
    // revocations it learns (docs/revocation.md): the grant and the token
    // versions, as a JWT access token carries them (`gid`, `ver`, `cver`).
    if let Some(gid) = &active.grant_id {
        obj.insert("gid".into(), json!(gid));
    }
    if let Some(ver) = active.ver() {
        obj.insert("ver".into(), json!(ver));
    }
    obj.insert("cver".into(), json!(active.issued_under.client));
    // RFC 9449 §6.2: the key the token is bound to, for the resource server
    // to check the proof against.
    if let Some(jkt) = &active.jkt {
        obj.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    Ok(body)
}

/// RFC 7662 §4: the one rule for who may introspect what. A client may
/// introspect the tokens issued to it; a resource server, the access tokens
/// whose audience it was registered for. A refresh token is only ever
/// presented to us by its own client.
pub fn may_introspect(caller: &Client, token: &ActiveToken) -> bool {
    if caller.id == token.client_id {
        return true;
    }
    token.token_type == TokenType::Access
        && token
            .aud
            .as_ref()
            .is_some_and(|aud| caller.introspect_audiences.iter().any(|a| a == aud))
}
