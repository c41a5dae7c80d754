// One scale point of bench/growth.sh: p50/p99 of three hot paths at a FIXED request rate (open loop: request n is
// sent at t0 + n/RATE whatever the earlier ones are doing, and its latency is counted from that scheduled time,
// so a stall shows in the tail instead of slowing the load down — what `oha -q RATE --latency-correction` does).
//   introspection   RFC 7662 §2.1: one opaque access token minted over HTTP (code flow), introspected over and over.
//   introspection, cold   the same endpoint with a different live *seeded* refresh token each time: every request a
//                   primary-key lookup at a random place in the whole refresh_tokens table (no cache can help).
//   refresh         RFC 6749 §6 with rotation: CHAINS refresh tokens minted over HTTP (code flows), each request
//                   takes an idle chain, presents its token and puts the successor back.
//   logout          RFC 7009 revocation of a different live seeded refresh token each time (each revokes its
//                   grant: the family's rows and a revocation-log event), i.e. logout of one RP's offline session.
// Seeded tokens are those of bench/seed.sql (user i's live token is the last of its chain); SEEDED_USERS says how
// many exist. The two seeded rows use disjoint users (cold introspection: even, revocation: odd).
// Env: ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD REDIRECT_URI RATE(200) SECONDS(10) CHAINS(32) SOCKETS(32)
//      SEEDED_USERS PER_GRANT(10) ROWS(introspection,introspection_cold,refresh,logout)
// Prints one JSON object: per row {sent, ok, errors, status, p50_ms, p99_ms, max_ms, achieved_rps, first_error}.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const env = process.env;
const ISSUER = env.ISSUER.replace(/\/$/, '');
const RATE = parseFloat(env.RATE || '200');
const SECONDS = parseFloat(env.SECONDS || '10');
const CHAINS = parseInt(env.CHAINS || '32', 10);
const SEEDED = parseInt(env.SEEDED_USERS || '0', 10);
const PER_GRANT = parseInt(env.PER_GRANT || '10', 10);
const ROWS = (env.ROWS || 'introspection,introspection_cold,refresh,logout').split(',');
const REDIRECT_URI = env.REDIRECT_URI || 'http://127.0.0.1:9999/cb';
const BASIC = 'Basic ' + Buffer.from(`${encodeURIComponent(env.CLIENT_ID)}:${encodeURIComponent(env.CLIENT_SECRET)}`).toString('base64');
const disco = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
// At most SOCKETS connections (Signoff refuses more than http.max_connections_per_client = 64 from one address):
// when all are busy a request waits for one, and that wait counts in its latency like any other stall.
const agent = new http.Agent({ keepAlive: true, maxSockets: parseInt(env.SOCKETS || '32', 10) });
const post = (url, form) => new Promise((resolve, reject) => {
  const body = new URLSearchParams(form).toString();
  const req = http.request(url, { method: 'POST', agent, headers: { authorization: BASIC,
    'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status: res.statusCode, json: async () => JSON.parse(text), arrayBuffer: async () => null });
    });
    res.on('error', reject);
  });
  req.on('error', reject);
  req.end(body);
});

// bench/seed.sql pg_temp.rt_plain: the plaintext of seeded user i's token k.
const seededToken = (i, k) => `seedRt${String(i).padStart(30, '0')}${String(k).padStart(7, '0')}`;

const unescape = (s) => s.replace(/&amp;/g, '&').replace(/&#x2F;|&#47;/gi, '/').replace(/&quot;/g, '"')
  .replace(/&#39;|&#x27;/gi, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
const attr = (tag, name) => { const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*["']([^"']*)["']`, 'i')); return m && unescape(m[1]); };

// One authorization_code flow (as bench/refresh-chain.mjs walks it): returns the token response.
async function codeFlow() {
  const jar = new Map();
  const req = async (url, opts = {}) => {
    const headers = { ...(opts.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...opts, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [nv, ...attrs] = c.split(';');
      const i = nv.indexOf('='); const k = nv.slice(0, i).trim(); const v = nv.slice(i + 1).trim();
      const expired = !v || attrs.some((a) => /max-age=0\b/i.test(a) || /expires=.*1970/i.test(a));
      if (expired) jar.delete(k); else jar.set(k, v);
    }
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  let url = `${disco.authorization_endpoint}?${new URLSearchParams({
    client_id: env.CLIENT_ID, response_type: 'code', scope: 'openid offline_access', redirect_uri: REDIRECT_URI,
    prompt: 'consent', state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  })}`;
  let res = await req(url);
  for (let hop = 0; hop < 20; hop++) {
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      url = new URL(res.headers.get('location'), url).href;
      if (url.startsWith(REDIRECT_URI)) {
        const code = new URL(url).searchParams.get('code');
        if (!code) throw new Error(`no code: ${url}`);
        const t = await post(disco.token_endpoint, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
        const body = await t.json();
        if (t.status !== 200 || !body.refresh_token) throw new Error(`code exchange ${t.status}: ${JSON.stringify(body)}`);
        return body;
      }
      res = await req(url);
    } else if (res.status === 200) {
      const html = await res.text();
      const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
      if (!form) throw new Error(`200 without form at ${url}`);
      const action = new URL(attr(form[0].match(/<form\b[^>]*>/i)[0], 'action') || url, url).href;
      const fields = new URLSearchParams();
      for (const input of form[0].match(/<input\b[^>]*>/gi) || []) {
        const name = attr(input, 'name'); if (!name) continue;
        const type = (attr(input, 'type') || 'text').toLowerCase();
        if (type === 'password') fields.set(name, env.PASSWORD);
        else if (type === 'text' || type === 'email') fields.set(name, env.USERNAME);
        else fields.set(name, attr(input, 'value') ?? '');
      }
      url = action;
      res = await req(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields });
    } else {
      throw new Error(`HTTP ${res.status} at ${url}: ${(await res.text()).slice(0, 200)}`);
    }
  }
  throw new Error('too many hops');
}

// Open loop at RATE for SECONDS; send(n) returns [ok, status, errorText].
async function fixedRate(send) {
  const lat = []; const status = {}; let errors = 0; let firstError;
  const total = Math.round(RATE * SECONDS); const pending = [];
  if (total < 1) throw new Error(`RATE ${RATE} × SECONDS ${SECONDS} sends no request`);
  const t0 = performance.now() + 50;
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push((async () => {
      let ok; let code; let err;
      try { [ok, code, err] = await send(n); } catch (e) { ok = false; code = 'transport'; err = String(e.message || e); }
      lat.push(performance.now() - due); status[code] = (status[code] || 0) + 1;
      if (!ok) { errors++; firstError ??= `HTTP ${code}: ${String(err).slice(0, 200)}`; }
    })());
  }
  await Promise.all(pending);
  // What the server sustained: all requests over the time until the last answer (below RATE when it fell behind).
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p) => +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
  return { sent: total, ok: total - errors, errors, status, p50_ms: pct(0.5), p99_ms: pct(0.99),
    max_ms: +lat[lat.length - 1].toFixed(2), achieved_rps: +(total / elapsed).toFixed(1), first_error: firstError };
}

// Untimed: the tokens minted over HTTP (one password sign-in per chain, each with its own cookie jar).
const minted = [];
for (let i = 0; i < CHAINS; i++) minted.push(await codeFlow());
const out = { rate: RATE, seconds: SECONDS, chains: CHAINS, seeded_users: SEEDED };
const pick = (n, parity) => { // a distinct seeded user per request, spread over the whole table
  const half = Math.floor(SEEDED / 2);
  if (half === 0) throw new Error('no seeded users');
  return ((n * 7919 + 13) % half) * 2 + parity;
};

for (const row of ROWS) {
  if (row === 'introspection') {
    const token = minted[0].access_token;
    out[row] = await fixedRate(async () => {
      const r = await post(disco.introspection_endpoint, { token, token_type_hint: 'access_token' });
      const b = await r.json();
      return [r.status === 200 && b.active === true, r.status, JSON.stringify(b)];
    });
  } else if (row === 'introspection_cold') {
    out[row] = await fixedRate(async (n) => {
      const token = seededToken(pick(n, 0), PER_GRANT - 1);
      const r = await post(disco.introspection_endpoint, { token, token_type_hint: 'refresh_token' });
      const b = await r.json();
      return [r.status === 200 && b.active === true, r.status, JSON.stringify(b)];
    });
  } else if (row === 'refresh') {
    // A request with no idle chain waits for one (in its latency), as a client would wait for its own token.
    const idle = minted.map((m) => m.refresh_token); const waiters = []; let lost = 0;
    const take = () => (lost === CHAINS ? Promise.resolve(null)
      : idle.length ? Promise.resolve(idle.pop()) : new Promise((r) => waiters.push(r)));
    const give = (t) => (waiters.length ? waiters.shift()(t) : idle.push(t));
    out[row] = await fixedRate(async () => {
      const current = await take();
      if (current === null) throw new Error('every chain broke');
      let r; let b;
      try {
        r = await post(disco.token_endpoint, { grant_type: 'refresh_token', refresh_token: current });
        b = await r.json();
      } catch (e) { give(current); throw e; }
      const rotated = r.status === 200 && b.refresh_token && b.refresh_token !== current;
      if (rotated) give(b.refresh_token);
      else if (++lost === CHAINS) while (waiters.length) waiters.shift()(null);
      return [rotated, r.status, JSON.stringify(b)];
    });
  } else if (row === 'logout') {
    const tokens = [];
    for (let n = 0; n < Math.round(RATE * SECONDS); n++) tokens.push(seededToken(pick(n, 1), PER_GRANT - 1));
    out[row] = await fixedRate(async (n) => {
      const r = await post(disco.revocation_endpoint, { token: tokens[n], token_type_hint: 'refresh_token' });
      await r.arrayBuffer();
      return [r.status === 200, r.status, ''];
    });
    // A revocation answers 200 for unknown tokens too (RFC 7009 §2.2): check a sample really went inactive.
    let still = 0;
    for (const n of [0, 1, tokens.length >> 1, tokens.length - 1]) {
      const r = await post(disco.introspection_endpoint, { token: tokens[n], token_type_hint: 'refresh_token' });
      if ((await r.json()).active) still++;
    }
    out[row].sampled_still_active = still;
    out[row].distinct_tokens = Math.min(tokens.length, Math.floor(SEEDED / 2));
  }
}
console.log(JSON.stringify(out));
