"""Python Authlib (an OAuth/OpenID Connect client library, with joserfc)
against a running Signoff: discovery, code flow with PKCE and nonce, ID token
validated against the JWKS by Authlib's own OpenID Connect code, userinfo,
refresh with rotation and reuse detection, introspection and revocation of
the client's own tokens, RP-initiated logout; and a resource server that
validates Signoff's JWT access tokens with joserfc."""

import base64
import contextlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError
from joserfc.jwk import KeySet

from hosted_login import Browser

SCOPE = "openid profile email offline_access"


class RelyingParty(OpenIDMixin, OAuth2Session):
    """Authlib's requests OAuth 2.0 client with Authlib's OpenID Connect mixin
    (ID token validation against the JWKS, userinfo, logout URL), assembled as
    Authlib's web-framework integrations assemble it."""

    def __init__(self, metadata, **kwargs):
        super().__init__(**kwargs)
        self.server_metadata = dict(metadata)

    def load_server_metadata(self):
        return self.server_metadata

    def _get_session(self):
        return contextlib.nullcontext(self)


@pytest.fixture(scope="module")
def metadata(env):
    response = requests.get(env["issuer"] + "/.well-known/openid-configuration", timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def browser(env):
    return Browser(env["issuer"])


@pytest.fixture
def rp(env, metadata):
    return RelyingParty(
        metadata,
        client_id=env["client_id"],
        client_secret=env["client_secret"],
        scope=SCOPE,
        redirect_uri=env["redirect_uri"],
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )


def code_flow(rp, browser, env, metadata, **extra):
    """Authorize in `browser`, redeem the code; the token, the nonce, the
    callback URL and the ID token's claims as Authlib validated them."""
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, _state = rp.create_authorization_url(
        metadata["authorization_endpoint"], nonce=nonce, code_verifier=verifier, **extra
    )
    callback = browser.authorize(url, env["username"], env["password"])
    token = rp.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    claims = rp.parse_id_token(token, nonce)
    return token, nonce, callback, claims


def oauth_error(call):
    with pytest.raises(OAuthError) as failure:
        call()
    return failure.value.error


def test_discovery_names_the_issuer_s256_and_every_endpoint_used(env, metadata):
    assert metadata["issuer"] == env["issuer"]
    assert "S256" in metadata["code_challenge_methods_supported"]
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        assert metadata.get(name), name


def test_code_flow_with_pkce_and_nonce_gives_an_id_token_valid_against_the_jwks(rp, browser, env, metadata):
    token, nonce, callback, claims = code_flow(rp, browser, env, metadata)
    assert claims["iss"] == env["issuer"]
    assert claims["aud"] == env["client_id"]
    assert claims["nonce"] == nonce
    assert claims["sid"]
    # RFC 9207: the authorization response names the issuer.
    assert parse_qs(urlsplit(callback).query)["iss"] == [env["issuer"]]
    # Authlib's validation is live: another nonce, or a changed signature, fails.
    with pytest.raises(InvalidClaimError):
        rp.parse_id_token(token, "another-nonce")
    head, payload, signature = token["id_token"].split(".")
    forged = dict(token, id_token=".".join([head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]))
    with pytest.raises(BadSignatureError):
        rp.parse_id_token(forged, nonce)


def test_userinfo_returns_the_granted_claims_of_the_same_subject(rp, browser, env, metadata):
    _token, _nonce, _callback, claims = code_flow(rp, browser, env, metadata)
    info = rp.userinfo()
    assert info["sub"] == claims["sub"]
    assert info["email"] == "interop@example.com"
    assert info["name"] == "Interop User"


def test_refresh_rotates_and_replaying_a_used_token_revokes_the_family(rp, browser, env, metadata):
    token, *_ = code_flow(rp, browser, env, metadata)
    endpoint = metadata["token_endpoint"]
    original = token["refresh_token"]
    second = rp.refresh_token(endpoint, refresh_token=original)
    assert second["refresh_token"] != original
    assert second["access_token"] != token["access_token"]
    # Using the successor ends the original's grace period.
    third = rp.refresh_token(endpoint, refresh_token=second["refresh_token"])
    assert oauth_error(lambda: rp.refresh_token(endpoint, refresh_token=original)) == "invalid_grant"
    # RFC 9700 §4.14.2: reuse detected, the whole family is revoked.
    assert oauth_error(lambda: rp.refresh_token(endpoint, refresh_token=third["refresh_token"])) == "invalid_grant"


def test_introspection_of_its_own_token_then_revocation_makes_it_inactive(rp, browser, env, metadata):
    token, _nonce, _callback, claims = code_flow(rp, browser, env, metadata)
    introspect = lambda t: rp.introspect_token(metadata["introspection_endpoint"], token=t).json()  # noqa: E731
    live = introspect(token["access_token"])
    assert live["active"] is True
    assert live["client_id"] == env["client_id"]
    assert live["sub"] == claims["sub"]
    revoked = rp.revoke_token(metadata["revocation_endpoint"], token=token["access_token"],
                              token_type_hint="access_token")
    assert revoked.status_code == 200
    assert introspect(token["access_token"]) == {"active": False}
    rp.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
    assert oauth_error(lambda: rp.refresh_token(metadata["token_endpoint"],
                                                refresh_token=token["refresh_token"])) == "invalid_grant"


def test_rp_initiated_logout_returns_with_state_and_ends_the_session(rp, browser, env, metadata):
    token, *_ = code_flow(rp, browser, env, metadata)
    logout = rp.create_logout_url(
        post_logout_redirect_uri=env["post_logout_redirect_uri"], id_token_hint=token["id_token"]
    )
    back = urlsplit(browser.logout(logout["url"]))
    assert f"{back.scheme}://{back.netloc}{back.path}" == env["post_logout_redirect_uri"]
    assert parse_qs(back.query)["state"] == [logout["state"]]
    # The session's tokens ended with it, and the browser is signed out.
    assert oauth_error(lambda: rp.refresh_token(metadata["token_endpoint"],
                                                refresh_token=token["refresh_token"])) == "invalid_grant"
    silent, _ = rp.create_authorization_url(metadata["authorization_endpoint"], prompt="none",
                                            code_verifier=generate_token(48))
    answer = browser.go(silent)[2]
    assert parse_qs(urlsplit(answer).query)["error"] == ["login_required"]


@pytest.fixture(scope="module")
def api_token(env, metadata):
    client = OAuth2Session(env["api_client_id"], env["api_client_secret"], scope="api.read",
                           token_endpoint_auth_method="client_secret_basic")
    return client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")["access_token"]


@pytest.fixture(scope="module")
def jwks(metadata):
    return KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())


def accept(api_token, jwks, issuer, audience, now=None):
    """The resource server's check (RFC 9068 §4): signature against the
    JWKS, typ at+jwt, issuer, audience, expiry."""
    decoded = jwt.decode(api_token, jwks, algorithms=["RS256", "ES256", "EdDSA"])
    assert decoded.header["typ"].lower() in ("at+jwt", "application/at+jwt")
    jwt.JWTClaimsRegistry(
        now=now, iss={"essential": True, "value": issuer}, aud={"essential": True, "value": audience},
        exp={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


def test_joserfc_resource_server_accepts_a_token_for_its_audience(api_token, jwks, env):
    claims = accept(api_token, jwks, env["issuer"], env["api_audience"])
    assert claims["client_id"] == env["api_client_id"]
    assert claims["scope"] == "api.read"


def test_joserfc_resource_server_refuses_another_audience_an_expired_or_changed_token(api_token, jwks, env):
    with pytest.raises(InvalidClaimError):
        accept(api_token, jwks, env["issuer"], "https://other.interop.test")
    claims = accept(api_token, jwks, env["issuer"], env["api_audience"])
    with pytest.raises(ExpiredTokenError):
        accept(api_token, jwks, env["issuer"], env["api_audience"], now=claims["exp"] + 120)
    head, payload, signature = api_token.split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed["scope"] = "api.admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        accept(".".join([head, forged_payload, signature]), jwks, env["issuer"], env["api_audience"])
