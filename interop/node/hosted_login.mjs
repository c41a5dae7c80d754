// A browser without JavaScript, for the interop suites: a cookie jar, manual
// redirects, and the hosted pages' forms read from their HTML.

const ENTITIES = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>' };
const decode = (s) =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
const attr = (tag, name) => {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'));
  return m ? decode(m[1]) : undefined;
};

/** The forms of a page: action (absolute), hidden and text fields, buttons. */
export function parseForms(html, pageUrl) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map(([, open, body]) => ({
    action: new URL(attr(open, 'action') ?? '', pageUrl).href,
    fields: [...body.matchAll(/<input\b[^>]*>/gi)]
      .map(([tag]) => [attr(tag, 'name'), attr(tag, 'value') ?? '', attr(tag, 'type') ?? 'text'])
      .filter(([name]) => name),
    buttons: [...body.matchAll(/<button\b[^>]*>/gi)].map(([tag]) => [attr(tag, 'name'), attr(tag, 'value')]),
  }));
}

export class Browser {
  constructor(issuer) {
    this.origin = new URL(issuer).origin;
    this.cookies = new Map();
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers ?? {});
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (!value || attrs.some((a) => a.trim().toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follow redirects within the issuer; stop at a page or at a redirect
   * elsewhere. Returns { url, res, leaving } (leaving: the outside URL). */
  async follow(url, res) {
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      const next = new URL(res.headers.get('location'), url);
      if (next.origin !== this.origin) return { url, res, leaving: next };
      url = next;
      res = await this.request(url);
    }
    return { url, res, leaving: undefined };
  }

  async go(url) {
    return this.follow(new URL(url), await this.request(url));
  }

  async submit(form, extra = []) {
    const body = new URLSearchParams([...form.fields.map(([k, v]) => [k, v]), ...extra]);
    const url = new URL(form.action);
    const res = await this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return this.follow(url, res);
  }

  /** Run an authorization request as a person: sign in when the login page
   * shows, approve consent when asked. Returns the URL the OP sends the
   * browser to (the redirect URI with code or error). */
  async authorize(authorizationUrl, { username, password }) {
    let at = await this.go(authorizationUrl);
    for (let step = 0; step < 4 && !at.leaving; step++) {
      const html = await at.res.text();
      const forms = parseForms(html, at.url);
      const login = forms.find((f) => f.fields.some(([, , type]) => type === 'password'));
      if (login) {
        login.fields = login.fields.map(([k, v, t]) =>
          k === 'username' ? [k, username, t] : k === 'password' ? [k, password, t] : [k, v, t]);
        at = await this.submit(login);
      } else if (forms[0]?.buttons.some(([name, value]) => name === 'decision' && value === 'approve')) {
        at = await this.submit(forms[0], [['decision', 'approve']]);
      } else {
        throw new Error(`unexpected page at ${at.url} (${at.res.status}): ${html.slice(0, 500)}`);
      }
    }
    if (!at.leaving) throw new Error(`the authorization did not finish at ${at.url}`);
    return at.leaving;
  }

  /** Open an end-session URL and press "Sign out" on the confirmation page.
   * Returns where the OP sends the browser afterwards (or undefined). */
  async logout(endSessionUrl) {
    const at = await this.go(endSessionUrl);
    if (at.leaving) return at.leaving;
    const html = await at.res.text();
    const form = parseForms(html, at.url).find((f) => f.buttons.some(([, v]) => v === 'logout'));
    if (!form) throw new Error(`no sign-out confirmation at ${at.url}: ${html.slice(0, 500)}`);
    const done = await this.submit(form, [['decision', 'logout']]);
    return done.leaving;
  }
}
