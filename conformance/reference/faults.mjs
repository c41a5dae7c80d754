// Deliberate defects for the reference provider, one at a time (REFERENCE_FAULT=name).
// `run.sh faults` starts the reference with each and checks that the named runner module
// FAILS: proof that the runner's checks can fail, not only pass.
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import { randomUUID } from 'node:crypto';

// fault name -> the runner module that must catch it, and the result it must give when that
// is not FAILED (and what the fault breaks).
export const FAULTS = {
  'state-dropped': 'oidcc-server', // RFC 6749 4.1.2: state not returned
  'token-cache-control-missing': 'oidcc-server', // RFC 6749 5.1: no Cache-Control: no-store
  'id-token-tampered': 'oidcc-server', // OIDC Core 3.1.3.7: signature broken
  'id-token-nonce-dropped': 'oidcc-server', // OIDC Core 3.1.3.7: nonce missing (validly signed)
  'id-token-wrong-aud': 'oidcc-server', // OIDC Core 3.1.3.7: aud is another client (validly signed)
  'userinfo-wrong-sub': 'oidcc-userinfo-get', // OIDC Core 5.3.2: sub differs from the ID Token's
  'email-verified-string': 'oidcc-scope-email', // OIDC Core 5.1: email_verified is not a boolean
  'prompt-none-shows-login': 'oidcc-prompt-none-not-logged-in', // OIDC Core 3.1.2.1
  'prompt-login-ignored': 'oidcc-prompt-login', // OIDC Core 3.1.2.1
  'max-age-ignored': 'oidcc-max-age-1', // OIDC Core 3.1.2.1
  'code-replayable': 'oidcc-codereuse', // RFC 6749 4.1.2
  'redirect-uri-unchecked': 'oidcc-ensure-registered-redirect-uri', // RFC 6749 4.1.2.1
  'post-logout-redirect-unchecked': 'oidcc-rp-initiated-logout-bad-post-logout-redirect-uri', // RP-Initiated 3
  'logout-token-no-events': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.4
  'logout-token-nonce': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.4
  'jwks-private-key': 'oidcc-discovery-endpoint-verification', // RFC 7517: private material published
  'revocation-noop': 'signoff-revocation-refresh-token', // RFC 7009 2.2
  'introspection-unknown-active': 'signoff-introspection-inactive', // RFC 7662 2.2
  'introspection-without-client-auth': 'signoff-introspection-requires-client-auth', // RFC 7662 2.1
  'token-type-not-bearer': 'oidcc-server', // OIDC Core 3.1.3.3
  'at-hash-wrong': 'oidcc-server', // OIDC Core 3.1.3.8 (validly signed)
  'iss-param-wrong': 'oidcc-server', // RFC 9207 2.4
  'logout-keeps-session': 'oidcc-rp-initiated-logout', // RP-Initiated Logout 2
  'backchannel-not-sent': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.5
  'logout-token-tampered': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.6
  'logout-token-wrong-aud': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.6
  'logout-token-wrong-sid': 'oidcc-backchannel-rp-initiated-logout', // BCL 2.4
  'userinfo-post-body-refused': 'oidcc-userinfo-post-body WARNING', // RFC 6750 2.2 (a MAY; OIDF warns)
  // PLAN/MODULE: the module of that plan (variant plans share the Basic plan's module names).
  'private-key-jwt-refused': 'basic-private-key-jwt/oidcc-server', // RFC 7523 2.2: valid assertions refused
  'client-assertion-iss-aud-invalid-grant': 'basic-private-key-jwt/oidcc-ensure-client-assertion-with-iss-aud-succeeds', // RFC 6749 5.2
  'form-post-ignored': 'formpost-basic/oidcc-server', // Form Post Response Mode 2: answered in the query
  'dpop-token-type-bearer': 'fapi2-security-profile-final-happy-flow', // RFC 9449 5: token_type not DPoP
  'dpop-not-required': 'fapi2-security-profile-final-ensure-holder-of-key-required', // RFC 9449 5
  'refresh-dpop-not-required': 'fapi2-security-profile-final-refresh-token', // FAPI2 SP 5.3.2.1: refresh without a proof
  'userinfo-dpop-proof-unchecked': 'fapi2-security-profile-final-dpop-negative-tests', // RFC 9449 4.3, 7.1
  'par-request-uri-reusable': 'fapi2-security-profile-final-par-attempt-reuse-request_uri WARNING', // RFC 9126 7.3 (a SHOULD)
  'par-request-uri-not-bound': 'fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client', // RFC 9126 4
  'par-accepts-put': 'fapi2-security-profile-final-par-attempt-invalid-http-method', // RFC 9126 2.1
  'par-accepts-request-uri': 'fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param', // RFC 9126 2.1
};

// The authorization parameters of a pushed request, to replay them at /auth.
const AUTH_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce',
  'code_challenge', 'code_challenge_method', 'response_mode'];

const editQuery = (ctx, edit) => {
  const q = new URLSearchParams(ctx.querystring);
  edit(q);
  ctx.querystring = q.toString();
};

// Re-signs a JWT with the provider's own key after `edit` changed its claims.
async function resign(token, jwk, edit) {
  const header = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  edit(claims);
  const key = await importJWK(jwk, header.alg);
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

// Installs `fault` on `provider`; returns the fetch to use for outgoing (back-channel) calls.
export async function installFault(provider, { fault, jwk, rp, fetch }) {
  if (!fault) return fetch;
  if (!FAULTS[fault]) throw new Error(`unknown REFERENCE_FAULT ${fault}; known: ${Object.keys(FAULTS).join(', ')}`);
  console.log(`reference fault injected: ${fault}`);
  const codes = new Map();
  let diverted;
  let logoutParams;
  // request_uri -> { params, used } for the PAR faults; the last good UserInfo body.
  const pushed = new Map();
  let lastUserinfo;
  // A DPoP key of the fault's own, to make proofs the client did not send.
  const proofless = fault === 'dpop-not-required' || fault === 'refresh-dpop-not-required';
  const dpopKey = proofless ? await generateKeyPair('ES256') : undefined;

  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && fault === 'form-post-ignored') editQuery(ctx, (q) => q.delete('response_mode'));
    if (ctx.path === '/auth' && (fault === 'par-request-uri-reusable' || fault === 'par-request-uri-not-bound')) {
      editQuery(ctx, (q) => {
        const entry = pushed.get(q.get('request_uri'));
        if (!entry) return;
        const replay = fault === 'par-request-uri-reusable' ? entry.used : q.get('client_id') !== entry.params.client_id;
        entry.used = true;
        if (!replay) return;
        const clientId = q.get('client_id');
        for (const k of [...q.keys()]) q.delete(k);
        for (const [k, v] of Object.entries(entry.params)) q.set(k, v);
        q.set('client_id', clientId);
      });
    }
    if (ctx.path === '/request' && ctx.method === 'PUT' && fault === 'par-accepts-put') {
      ctx.status = 201;
      ctx.body = { request_uri: `urn:ietf:params:oauth:request_uri:${randomUUID()}`, expires_in: 60 };
      return;
    }
    if (ctx.path === '/token' && proofless && !ctx.get('dpop')) {
      const jwk = await exportJWK(dpopKey.publicKey);
      const htu = `${ctx.protocol}://${ctx.host}/token`;
      ctx.req.headers.dpop = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(dpopKey.privateKey);
    }
    const auth = ctx.path === '/auth' || ctx.path.startsWith('/auth/');
    if (ctx.path === '/auth' && fault === 'prompt-none-shows-login') editQuery(ctx, (q) => q.get('prompt') === 'none' && q.delete('prompt'));
    if (ctx.path === '/auth' && fault === 'prompt-login-ignored') editQuery(ctx, (q) => q.get('prompt') === 'login' && q.delete('prompt'));
    if (ctx.path === '/auth' && fault === 'max-age-ignored') editQuery(ctx, (q) => q.delete('max_age'));
    if (ctx.path === '/auth' && fault === 'redirect-uri-unchecked') {
      editQuery(ctx, (q) => {
        if (q.get('redirect_uri') && q.get('redirect_uri') !== `${rp}/cb`) { diverted = q.get('redirect_uri'); q.set('redirect_uri', `${rp}/cb`); }
      });
    }
    if (ctx.path === '/session/end' && fault === 'post-logout-redirect-unchecked') {
      editQuery(ctx, (q) => {
        const plr = q.get('post_logout_redirect_uri');
        if (plr && plr !== `${rp}/logged-out`) { diverted = plr; q.set('post_logout_redirect_uri', `${rp}/logged-out`); }
      });
    }
    if (ctx.path === '/token/revocation' && fault === 'revocation-noop') { ctx.status = 200; ctx.body = ''; return; }
    if (ctx.path === '/token/introspection' && fault === 'introspection-without-client-auth' && !ctx.get('authorization')) {
      ctx.body = { active: true }; return;
    }
    if (ctx.path === '/me' && ctx.method === 'POST' && fault === 'userinfo-post-body-refused' && !ctx.get('authorization')) {
      ctx.status = 400; ctx.body = { error: 'invalid_request' }; return;
    }
    if (fault === 'logout-keeps-session') {
      // Answer the confirmation as if logged out, without ending the session.
      if (ctx.path === '/session/end') logoutParams = new URLSearchParams(ctx.querystring);
      if (ctx.path === '/session/end/confirm' && logoutParams?.get('post_logout_redirect_uri')) {
        const u = new URL(logoutParams.get('post_logout_redirect_uri'));
        if (logoutParams.get('state')) u.searchParams.set('state', logoutParams.get('state'));
        ctx.redirect(u.href);
        return;
      }
    }

    await next();

    const location = ctx.response.get('location') ?? '';
    if (auth && fault === 'state-dropped' && location.startsWith(`${rp}/cb`)) {
      const u = new URL(location);
      u.searchParams.delete('state');
      ctx.redirect(u.href);
    }
    if (auth && fault === 'iss-param-wrong' && location.startsWith(`${rp}/cb`)) {
      const u = new URL(location);
      u.searchParams.set('iss', 'https://impostor.example');
      ctx.redirect(u.href);
    }
    if (diverted && location.startsWith(rp)) {
      const u = new URL(location);
      ctx.redirect(`${diverted}${u.search}`);
      diverted = undefined;
    }
    if (ctx.path === '/request' && ctx.method === 'POST' && ctx.status === 201 && ctx.oidc?.params) {
      const params = {};
      for (const k of AUTH_PARAMS) if (ctx.oidc.params[k] !== undefined) params[k] = ctx.oidc.params[k];
      pushed.set(ctx.body.request_uri, { params, used: false });
    }
    if (ctx.path === '/request' && fault === 'par-accepts-request-uri' && ctx.status === 400) {
      ctx.status = 201;
      ctx.body = { request_uri: `urn:ietf:params:oauth:request_uri:${randomUUID()}`, expires_in: 60 };
    }
    if (ctx.path === '/me' && fault === 'userinfo-dpop-proof-unchecked') {
      if (ctx.status === 200) lastUserinfo = ctx.body;
      else if (lastUserinfo && /^dpop /i.test(ctx.get('authorization'))) { ctx.status = 200; ctx.body = lastUserinfo; }
    }
    if (ctx.path === '/token' && ctx.method === 'POST') {
      if (fault === 'token-cache-control-missing') ctx.remove('cache-control');
      const assertion = ctx.oidc?.params?.client_assertion;
      if (fault === 'private-key-jwt-refused' && assertion) {
        ctx.status = 401; ctx.body = { error: 'invalid_client', error_description: 'fault: assertion refused' };
      }
      if (fault === 'client-assertion-iss-aud-invalid-grant' && assertion && decodeJwt(assertion).aud === provider.issuer) {
        ctx.status = 400; ctx.body = { error: 'invalid_grant' };
      }
      if (fault === 'dpop-token-type-bearer' && ctx.status === 200 && ctx.body?.token_type === 'DPoP') ctx.body.token_type = 'Bearer';
      const code = ctx.oidc?.params?.code;
      if (fault === 'code-replayable' && code) {
        if (ctx.status === 200) codes.set(code, ctx.body);
        else if (codes.has(code)) { ctx.status = 200; ctx.body = codes.get(code); }
      }
      if (ctx.status === 200 && ctx.body?.id_token) {
        const t = ctx.body.id_token;
        if (fault === 'id-token-tampered') {
          const [h, , s] = t.split('.');
          const claims = { ...decodeJwt(t), sub: 'intruder' };
          ctx.body.id_token = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
        }
        if (fault === 'id-token-nonce-dropped') ctx.body.id_token = await resign(t, jwk, (c) => delete c.nonce);
        if (fault === 'id-token-wrong-aud') ctx.body.id_token = await resign(t, jwk, (c) => { c.aud = 'someone-else'; });
        if (fault === 'at-hash-wrong') ctx.body.id_token = await resign(t, jwk, (c) => { c.at_hash = 'AAAAAAAAAAAAAAAAAAAAAA'; });
        if (fault === 'token-type-not-bearer') ctx.body.token_type = 'MAC';
      }
    }
    if (ctx.path === '/me' && ctx.status === 200 && ctx.body) {
      if (fault === 'userinfo-wrong-sub') ctx.body.sub = 'someone-else';
      if (fault === 'email-verified-string' && 'email_verified' in ctx.body) ctx.body.email_verified = String(ctx.body.email_verified);
    }
    if (ctx.path === '/jwks' && fault === 'jwks-private-key') {
      ctx.body = { keys: ctx.body.keys.map((k) => ({ ...k, d: jwk.d })) };
    }
    if (ctx.path === '/token/introspection' && fault === 'introspection-unknown-active' && ctx.body?.active === false) {
      ctx.body = { active: true };
    }
  });

  const tokenEdits = {
    'logout-token-no-events': (c) => delete c.events,
    'logout-token-nonce': (c) => { c.nonce = 'a-nonce'; },
    'logout-token-wrong-aud': (c) => { c.aud = 'someone-else'; },
    'logout-token-wrong-sid': (c) => { c.sid = 'another-session'; },
  };
  if (fault === 'backchannel-not-sent') return async () => new Response(null, { status: 200 });
  if (fault === 'logout-token-tampered') {
    return async (url, options) => {
      const [h, , sig] = new URLSearchParams(options.body).get('logout_token').split('.');
      const claims = { ...decodeJwt(new URLSearchParams(options.body).get('logout_token')), sub: 'intruder' };
      const token = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
      return fetch(url, { ...options, body: new URLSearchParams({ logout_token: token }) });
    };
  }
  if (!tokenEdits[fault]) return fetch;
  return async (url, options) => {
    const token = await resign(new URLSearchParams(options.body).get('logout_token'), jwk, tokenEdits[fault]);
    return fetch(url, { ...options, body: new URLSearchParams({ logout_token: token }) });
  };
}
