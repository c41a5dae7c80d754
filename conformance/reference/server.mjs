// The reference provider for signoff-conformance: panva/node-oidc-provider (OpenID Certified),
// configured with the clients, user and features the plans need. In-memory storage.
//
//   PORT=4200 RP_BASE=http://127.0.0.1:8975 node server.mjs
//
// RP_BASE is where the runner's receiver listens: /cb (redirect_uri), /logged-out
// (post_logout_redirect_uri), /backchannel (backchannel_logout_uri).
// REFERENCE_FAULT=name injects one deliberate defect (see faults.mjs; used by `run.sh faults`).
// Test user: any login (e.g. "alice") with any password, through the devInteractions pages.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';
// Internal module (the package has no "exports" map): the built-in memory adapter over our store.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { installFault } from './faults.mjs';

const PORT = Number(process.env.PORT || 4200);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RP = process.env.RP_BASE || 'http://127.0.0.1:8975';

// An unbounded Map with TTLs, so no token is forgotten mid-run (the stock LRU may).
class MapStore {
  #m = new Map();
  get(k) {
    const e = this.#m.get(k);
    if (e && e.exp <= Date.now()) { this.#m.delete(k); return undefined; }
    return e?.v;
  }
  set(k, v, opts) { this.#m.set(k, { v, exp: opts?.maxAge ? Date.now() + opts.maxAge : Infinity }); }
  delete(k) { this.#m.delete(k); }
  *entries() { for (const [k, e] of this.#m) if (e.exp > Date.now()) yield [k, e.v]; }
}
const store = new MapStore();

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const jwk = { ...rsa, alg: 'RS256', use: 'sig', kid: 'rs256-1' };

// The runner's receiver is on loopback, which node's SSRF guard refuses; this test-only
// provider sends back-channel logout requests with the plain fetch instead.
const plainFetch = (url, options) => fetch(url, { ...options, dispatcher: undefined });
let outgoing = plainFetch;

const common = {
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [`${RP}/cb`],
  post_logout_redirect_uris: [`${RP}/logged-out`],
};
const clients = [
  { ...common, client_id: 'conformance-main', client_secret: 'conformance-main-secret-0123456789abcdef' },
  {
    ...common,
    client_id: 'conformance-post',
    client_secret: 'conformance-post-secret-0123456789abcdef',
    token_endpoint_auth_method: 'client_secret_post',
  },
  { ...common, client_id: 'conformance-second', client_secret: 'conformance-second-secret-0123456789abcdef' },
  // private_key_jwt (RFC 7523): CLIENT_JWKS is the public JWK Set run.sh generated; the
  // runner signs with its private half. conformance-fapi2 also has DPoP-bound tokens.
  ...(process.env.CLIENT_JWKS ? [
    {
      ...common,
      client_id: 'conformance-private-key-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: JSON.parse(readFileSync(process.env.CLIENT_JWKS, 'utf8')),
    },
    {
      ...common,
      client_id: 'conformance-fapi2',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: JSON.parse(readFileSync(process.env.CLIENT_JWKS, 'utf8')),
      dpop_bound_access_tokens: true,
    },
  ] : []),
  {
    ...common,
    client_id: 'conformance-backchannel',
    client_secret: 'conformance-backchannel-secret-0123456789abcdef',
    backchannel_logout_uri: `${RP}/backchannel`,
    backchannel_logout_session_required: true,
  },
];

const profile = ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'];

const provider = new Provider(ISSUER, {
  adapter: (model) => new MemoryAdapter(model, store),
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')], long: { sameSite: 'none' } },
  // OIDC Core 3.1.2.1: the authorization endpoint MUST accept POST; node needs SameSite=None for it.
  enableHttpPostMethods: true,
  fetch: (url, options) => outgoing(url, options),
  scopes: ['openid', 'profile', 'email', 'address', 'phone', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile,
    email: ['email', 'email_verified'],
    address: ['address'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: 'Alice Example',
          given_name: 'Alice',
          family_name: 'Example',
          preferred_username: sub,
          locale: 'en',
          updated_at: 1700000000,
          email: `${sub}@example.test`,
          email_verified: true,
          address: { formatted: '1 Test Street, Testville', country: 'SE' },
          phone_number: '+46 70 000 00 00',
          phone_number_verified: false,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    claimsParameter: { enabled: true },
    pushedAuthorizationRequests: { enabled: true },
    // DPoP (RFC 9449) is always on in oidc-provider 9; dpop_bound_access_tokens is per client.
  },
  rotateRefreshToken: true,
  pkce: { required: () => false },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400,
    Interaction: 600, Session: 3600, Grant: 86400 },
});

outgoing = await installFault(provider, { fault: process.env.REFERENCE_FAULT, jwk, rp: RP, fetch: plainFetch });

// Provider-initiated logout for oidcc-backchannel-idp-initiated-logout: ends the session that
// issued `sid` and sends each of its clients a back-channel logout token, as an admin action would.
//   curl -X POST "$ISSUER/conformance/end-session?sid=SID"
provider.use(async (ctx, next) => {
  if (ctx.path !== '/conformance/end-session' || ctx.method !== 'POST') return next();
  const sid = ctx.query.sid;
  for (const [key, session] of store.entries()) {
    if (!key.startsWith('Session:') || !session.authorizations) continue;
    const entries = Object.entries(session.authorizations);
    if (!entries.some(([, a]) => a.sid === sid)) continue;
    for (const [clientId, authorization] of entries) {
      const client = await provider.Client.find(clientId);
      if (client?.backchannelLogoutUri) await client.backchannelLogout(session.accountId, authorization.sid);
      if (authorization.grantId) await (await provider.Grant.find(authorization.grantId))?.destroy();
    }
    await new MemoryAdapter('Session', store).destroy(key.slice('Session:'.length));
    ctx.status = 204;
    return undefined;
  }
  ctx.status = 404;
  return undefined;
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err.message));
provider.listen(PORT, '127.0.0.1', () => {
  console.log(`reference oidc-provider listening, issuer ${ISSUER}, RP ${RP}, pid ${process.pid}`);
});
