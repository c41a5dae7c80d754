// Authorization-code flows on an existing SSO session (OpenID Core §3.1.2.3: an authenticated End-User who
// already consented is not asked again): each of CONNECTIONS workers signs in ONCE (untimed: authorize -> login
// form -> consent form -> code -> token), keeping its session cookie, then loops for DURATION seconds
//   GET authorize (session cookie) -> 302/303 to REDIRECT_URI?code=... -> POST token (authorization_code + PKCE)
// and times each whole flow. If the provider shows a page again (a consent step on every flow, say), the form is
// submitted like the real flow would and counted in `forms`, so the report can say the peer was not SSO-only.
// Env: ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD DURATION(s) CONNECTIONS SCOPE
//   RATE (flows/s, optional): open loop at that total rate, latency measured from each flow's scheduled start
//   (coordinated-omission corrected, like oha -q --latency-correction); unset = closed loop, as fast as possible.
// Prints one JSON line: {flows, seconds, flows_per_s, p50_ms, p99_ms, errors, http_requests, forms,
//   requests_per_flow, rate, first_error}. Counters cover the timed window only.
import { createHash, randomBytes } from 'node:crypto';

const env = process.env;
const ISSUER = env.ISSUER.replace(/\/$/, '');
const DURATION = parseFloat(env.DURATION || '10');
const CONNECTIONS = parseInt(env.CONNECTIONS || '8', 10);
const RATE = env.RATE ? parseFloat(env.RATE) : 0;
const REDIRECT_URI = env.REDIRECT_URI || 'http://127.0.0.1:9999/cb';
const SCOPE = env.SCOPE || 'openid';
const BASIC = 'Basic ' + Buffer.from(`${encodeURIComponent(env.CLIENT_ID)}:${encodeURIComponent(env.CLIENT_SECRET)}`).toString('base64');
const disco = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();

const decode = (s) => s.replace(/&#x2F;|&#47;/gi, '/').replace(/&quot;/g, '"').replace(/&#39;|&#x27;/gi, "'")
  .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attribute = (tag, name) => { const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*["']([^"']*)["']`, 'i')); return m && decode(m[1]); };

// One worker = one browser: its own cookie jar, so its session is its own.
function browser() {
  const jar = new Map();
  const counts = { requests: 0, forms: 0 };
  async function request(url, opts = {}) {
    counts.requests++;
    const headers = { ...(opts.headers || {}) };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...opts, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('='); const name = pair.slice(0, eq).trim(); const value = pair.slice(eq + 1).trim();
      const gone = !value || attrs.some((a) => /max-age=0\b/i.test(a) || /expires=.*1970/i.test(a));
      if (gone) jar.delete(name); else jar.set(name, value);
    }
    return res;
  }
  // authorize -> (pages, if any) -> code -> token; returns nothing, throws on anything but a token response.
  async function flow() {
    const verifier = randomBytes(32).toString('base64url');
    let url = `${disco.authorization_endpoint}?${new URLSearchParams({
      client_id: env.CLIENT_ID, response_type: 'code', scope: SCOPE, redirect_uri: REDIRECT_URI,
      state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    })}`;
    let res = await request(url);
    for (let hop = 0; hop < 20; hop++) {
      if (res.status >= 300 && res.status < 400) {
        await res.arrayBuffer();
        url = new URL(res.headers.get('location'), url).href;
        if (!url.startsWith(REDIRECT_URI)) { res = await request(url); continue; }
        const code = new URL(url).searchParams.get('code');
        if (!code) throw new Error(`no code: ${url.slice(0, 200)}`);
        const t = await request(disco.token_endpoint, {
          method: 'POST', headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
        });
        const body = await t.json();
        if (t.status !== 200 || !body.access_token) throw new Error(`token ${t.status}: ${JSON.stringify(body).slice(0, 200)}`);
        return;
      }
      if (res.status !== 200) throw new Error(`HTTP ${res.status} at ${url.slice(0, 120)}: ${(await res.text()).slice(0, 200)}`);
      const html = await res.text();
      const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
      if (!form) throw new Error(`200 without a form at ${url.slice(0, 120)}`);
      counts.forms++;
      const action = new URL(attribute(form[0].match(/<form\b[^>]*>/i)[0], 'action') || url, url).href;
      const fields = new URLSearchParams();
      for (const input of form[0].match(/<input\b[^>]*>/gi) || []) {
        const name = attribute(input, 'name'); if (!name) continue;
        const type = (attribute(input, 'type') || 'text').toLowerCase();
        if (type === 'password') fields.set(name, env.PASSWORD || 'any');
        else if (type === 'text' || type === 'email') fields.set(name, env.USERNAME || 'alice');
        else fields.set(name, attribute(input, 'value') ?? '');
      }
      url = action;
      res = await request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields });
    }
    throw new Error('too many hops');
  }
  return { flow, counts };
}

// Untimed: every worker signs in once (sequentially, so sign-in is not part of the load) and must have been
// shown at least one form doing so: a provider that never asked would not be measuring an SSO session.
const workers = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const b = browser();
  await b.flow();
  if (b.counts.forms === 0) throw new Error('the sign-in flow showed no form: no session was established');
  b.counts.requests = 0; b.counts.forms = 0;
  workers.push(b);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lat = []; let errors = 0; let firstError; let slot = 0;
const t0 = performance.now(); const deadline = t0 + DURATION * 1000;
await Promise.all(workers.map(async (b) => {
  for (;;) {
    let start = performance.now();
    if (RATE > 0) { // open loop: the next free slot of the schedule, whatever worker takes it
      start = t0 + (slot++ * 1000) / RATE;
      if (start >= deadline) return;
      if (start > performance.now()) await sleep(start - performance.now());
    } else if (start >= deadline) return;
    try { await b.flow(); lat.push(performance.now() - start); } catch (e) { errors++; firstError ??= String(e.message || e); }
  }
}));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2) : null);
const requests = workers.reduce((n, b) => n + b.counts.requests, 0);
const forms = workers.reduce((n, b) => n + b.counts.forms, 0);
console.log(JSON.stringify({ flows: lat.length, seconds: +secs.toFixed(2), flows_per_s: +(lat.length / secs).toFixed(1),
  p50_ms: pct(0.5), p99_ms: pct(0.99), errors, http_requests: requests, forms,
  requests_per_flow: +(requests / Math.max(lat.length + errors, 1)).toFixed(2), rate: RATE || null, first_error: firstError }));
