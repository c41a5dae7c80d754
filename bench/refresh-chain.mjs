// Refresh-token rotation under load (RFC 6749 §6, RFC 9700 §4.14.2). Each of CONNECTIONS workers first gets its
// own refresh token with one untimed authorization_code flow (scope "openid offline_access", prompt=consent as
// OpenID Core §11 asks for offline access), then, for DURATION seconds, redeems it and continues with the
// successor the response returns: one chain per worker, each request depending on the previous answer.
// The login/consent pages are walked like bench authcode-flow.mjs does: follow redirects by hand with a cookie jar
// and auto-submit the first POST <form>, text fields = USERNAME, password fields = PASSWORD, hidden fields kept.
// Env: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD DURATION(s) CONNECTIONS SCOPE
//   RATE (refreshes/s, optional): open loop at that total rate, each refresh timed from its scheduled start
//   (coordinated-omission corrected, like oha -q --latency-correction); unset = closed loop, as fast as possible.
// Prints one JSON line: {refreshes, seconds, rps, p50_ms, p99_ms, errors, status, rotated, workers, remints,
//   rate, first_error}. `rotated` counts 200 responses whose refresh_token differs from the one presented; a provider
//   that does not rotate shows rotated=0 and keeps redeeming the same token.
import { createHash, randomBytes } from 'node:crypto';

const env = process.env;
const ISSUER = env.ISSUER.replace(/\/$/, '');
const DURATION = parseFloat(env.DURATION || '10');
const CONNECTIONS = parseInt(env.CONNECTIONS || '32', 10);
const REDIRECT_URI = env.REDIRECT_URI || 'http://127.0.0.1:9999/cb';
const SCOPE = env.SCOPE || 'openid offline_access';
const RATE = env.RATE ? parseFloat(env.RATE) : 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const BASIC = 'Basic ' + Buffer.from(`${encodeURIComponent(env.CLIENT_ID)}:${encodeURIComponent(env.CLIENT_SECRET)}`).toString('base64');
const disco = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
const tokenRequest = (body) => fetch(disco.token_endpoint, { method: 'POST', body: new URLSearchParams(body),
  headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' } });

const unescape = (s) => s.replace(/&amp;/g, '&').replace(/&#x2F;|&#47;/gi, '/').replace(/&quot;/g, '"')
  .replace(/&#39;|&#x27;/gi, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
const attr = (tag, name) => { const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*["']([^"']*)["']`, 'i')); return m && unescape(m[1]); };

// One authorization_code flow; returns the token response (which must carry a refresh_token).
async function mintRefreshToken() {
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
    client_id: env.CLIENT_ID, response_type: 'code', scope: SCOPE, redirect_uri: REDIRECT_URI, prompt: 'consent',
    state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
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
        const t = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
        const body = await t.json();
        if (t.status !== 200 || !body.refresh_token) throw new Error(`code exchange ${t.status}, no refresh_token: ${JSON.stringify(body)}`);
        return body.refresh_token;
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
        if (type === 'password') fields.set(name, env.PASSWORD || 'any');
        else if (type === 'text' || type === 'email') fields.set(name, env.USERNAME || 'alice');
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

// Untimed: one refresh token per worker (sequentially, so the login pages are not part of the load).
const chains = [];
for (let i = 0; i < CONNECTIONS; i++) chains.push(await mintRefreshToken());

const lat = []; const status = {}; let errors = 0; let rotated = 0; let remints = 0; let firstError; let slot = 0;
const t0 = performance.now(); const deadline = t0 + DURATION * 1000;
await Promise.all(chains.map(async (first) => {
  let current = first;
  for (;;) {
    let s = performance.now();
    if (RATE > 0) { // open loop: the next free slot of the schedule, whatever chain takes it
      s = t0 + (slot++ * 1000) / RATE;
      if (s >= deadline) break;
      if (s > performance.now()) await sleep(s - performance.now());
    } else if (s >= deadline) break;
    let code; let body;
    try {
      const r = await tokenRequest({ grant_type: 'refresh_token', refresh_token: current });
      code = r.status; body = await r.json();
    } catch (e) { code = 'transport'; body = { error: String(e.message || e) }; }
    lat.push(performance.now() - s); status[code] = (status[code] || 0) + 1;
    if (code === 200 && body.access_token) {
      if (body.refresh_token && body.refresh_token !== current) { rotated++; current = body.refresh_token; }
      continue;
    }
    // A broken chain (the token may be consumed or revoked now) restarts from a fresh flow, inside the timed window.
    errors++; firstError ??= `HTTP ${code}: ${JSON.stringify(body).slice(0, 200)}`;
    try { current = await mintRefreshToken(); remints++; } catch (e) { firstError ??= String(e.message || e); return; }
  }
}));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2) : null);
console.log(JSON.stringify({ refreshes: lat.length, seconds: +secs.toFixed(2), rps: +(lat.length / secs).toFixed(1),
  p50_ms: pct(0.5), p99_ms: pct(0.99), errors, status, rotated, workers: CONNECTIONS, remints, rate: RATE || null,
  first_error: firstError }));
