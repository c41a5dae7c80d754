// node openid-client v6 (an OpenID Certified relying party library) against
// a running Signoff: discovery, code flow with PKCE and nonce, ID token
// signature checked against the JWKS, userinfo, refresh with rotation and
// reuse detection, introspection and revocation of the client's own tokens,
// and RP-initiated logout.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { Browser } from './hosted_login.mjs';
import { issuer, rp, user } from './env.mjs';

const SCOPE = 'openid profile email offline_access';

/** A code flow in `browser`; the checked token response and what was sent. */
async function codeFlow(config, browser, extra = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: rp.redirectUri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  const callback = await browser.authorize(url, user);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  return { tokens, nonce, callback };
}

/** The OAuth error code of a failed openid-client call. */
async function oauthError(promise) {
  try {
    await promise;
  } catch (e) {
    return e.error ?? e.cause?.error ?? e.code;
  }
  assert.fail('expected the request to fail');
}

test('openid-client v6 against Signoff', async (t) => {
  const config = await client.discovery(issuer, rp.id, rp.secret, undefined, {
    // The suite's Signoff listens on plain http on loopback.
    execute: [client.allowInsecureRequests],
  });
  // Verify ID token signatures against the published JWKS (not only the
  // claims), as a relying party that keeps ID tokens as evidence must.
  client.enableNonRepudiationChecks(config);
  const metadata = config.serverMetadata();
  const browser = new Browser(issuer);
  let first;

  await t.test('discovery names the issuer, S256 PKCE and every endpoint used here', () => {
    assert.equal(metadata.issuer, issuer.href.replace(/\/$/, ''));
    assert.ok(metadata.code_challenge_methods_supported.includes('S256'));
    for (const name of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
      'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']) {
      assert.ok(metadata[name], `${name} is advertised`);
    }
  });

  await t.test('code flow with PKCE and nonce yields an ID token valid against the JWKS', async () => {
    first = await codeFlow(config, browser);
    const claims = first.tokens.claims();
    assert.equal(claims.iss, metadata.issuer);
    assert.equal(claims.aud, rp.id);
    assert.equal(claims.nonce, first.nonce);
    assert.ok(claims.sid, 'the ID token names the session');
    assert.equal(first.callback.searchParams.get('iss'), metadata.issuer, 'RFC 9207 iss');
    // And once more with jose alone, from the JWKS URI.
    const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(first.tokens.id_token, jwks, {
      issuer: metadata.issuer,
      audience: rp.id,
    });
    assert.equal(payload.sub, claims.sub);
    assert.ok(protectedHeader.kid, 'signed with a published key');
  });

  await t.test('userinfo returns the claims of the granted scopes for the same subject', async () => {
    const claims = first.tokens.claims();
    const info = await client.fetchUserInfo(config, first.tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
    assert.equal(info.email, 'interop@example.com');
    assert.equal(info.name, 'Interop User');
  });

  await t.test('refresh rotates the refresh token, and replaying a used one revokes the family', async () => {
    const original = first.tokens.refresh_token;
    assert.ok(original, 'a refresh token (offline_access)');
    const second = await client.refreshTokenGrant(config, original);
    assert.notEqual(second.refresh_token, original, 'rotated');
    assert.notEqual(second.access_token, first.tokens.access_token);
    // Using the successor ends the grace period of the original.
    const third = await client.refreshTokenGrant(config, second.refresh_token);
    assert.equal(await oauthError(client.refreshTokenGrant(config, original)), 'invalid_grant');
    // RFC 9700 §4.14.2: reuse detected, the whole family is revoked.
    assert.equal(await oauthError(client.refreshTokenGrant(config, third.refresh_token)), 'invalid_grant');
  });

  await t.test('a code is redeemed once only, and a replay revokes what it issued', async () => {
    const flow = await codeFlow(config, browser);
    assert.equal((await client.tokenIntrospection(config, flow.tokens.access_token)).active, true);
    const replay = await oauthError(client.authorizationCodeGrant(config, flow.callback, {
      pkceCodeVerifier: 'x'.repeat(43),
      expectedNonce: flow.nonce,
      expectedState: flow.callback.searchParams.get('state'),
    }));
    assert.equal(replay, 'invalid_grant');
    // RFC 6749 §4.1.2: the tokens issued from that code are revoked.
    assert.equal((await client.tokenIntrospection(config, flow.tokens.access_token)).active, false);
  });

  await t.test('introspection of its own token, then revocation makes it inactive', async () => {
    const { tokens } = await codeFlow(config, browser);
    const sub = tokens.claims().sub;
    const live = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(live.active, true);
    assert.equal(live.client_id, rp.id);
    assert.equal(live.sub, sub);
    await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
    const revoked = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(revoked.active, false);
    await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
    assert.equal(await oauthError(client.refreshTokenGrant(config, tokens.refresh_token)), 'invalid_grant');
  });

  await t.test('RP-initiated logout: confirmed sign-out returns with state and ends the session', async () => {
    const { tokens } = await codeFlow(config, browser);
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: rp.postLogoutRedirectUri,
      state,
    });
    const back = await browser.logout(url);
    assert.equal(`${back.origin}${back.pathname}`, rp.postLogoutRedirectUri);
    assert.equal(back.searchParams.get('state'), state);
    // The session's tokens died with it, and the browser is signed out.
    assert.equal(await oauthError(client.refreshTokenGrant(config, tokens.refresh_token)), 'invalid_grant');
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
    const silent = client.buildAuthorizationUrl(config, {
      redirect_uri: rp.redirectUri, scope: 'openid', prompt: 'none', state: 's',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const answer = (await browser.go(silent)).leaving;
    assert.equal(answer.searchParams.get('error'), 'login_required');
  });
});
