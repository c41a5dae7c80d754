// A resource server that accepts Signoff's JWT access tokens (RFC 9068),
// validated with jose against the published JWKS: signature, typ, issuer,
// audience and expiry.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';
import { api, issuer } from './env.mjs';

test('jose resource server validates Signoff JWT access tokens', async (t) => {
  const config = await client.discovery(issuer, api.clientId, api.secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const metadata = config.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { access_token: token } = await client.clientCredentialsGrant(config, { scope: 'api.read' });
  const accept = (options = {}) => jose.jwtVerify(token, jwks, {
    issuer: metadata.issuer,
    audience: api.audience,
    typ: 'at+jwt',
    ...options,
  });

  await t.test('a token for this API is accepted, with its client and scope', async () => {
    const { payload, protectedHeader } = await accept();
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.client_id, api.clientId);
    assert.equal(payload.scope, 'api.read');
    assert.ok(payload.jti && payload.exp > payload.iat);
  });

  await t.test('another audience is refused', async () => {
    await assert.rejects(accept({ audience: 'https://other.interop.test' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  await t.test('an expired token is refused', async () => {
    const { payload } = await accept();
    await assert.rejects(accept({ currentDate: new Date((payload.exp + 120) * 1000) }), { code: 'ERR_JWT_EXPIRED' });
  });

  await t.test('a token with a changed payload is refused', async () => {
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.scope = 'api.admin';
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    await assert.rejects(jose.jwtVerify(forged, jwks, { issuer: metadata.issuer, audience: api.audience }),
      { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});
