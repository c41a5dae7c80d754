// What interop/run.sh tells the suites.
const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suites with interop/run.sh`);
  return v;
};
export const issuer = new URL(need('SIGNOFF_ISSUER'));
export const user = { username: need('INTEROP_USERNAME'), password: need('INTEROP_PASSWORD') };
const suffix = need('INTEROP_SECRET_SUFFIX');
export const rp = {
  id: 'node-rp',
  secret: `node-rp-${suffix}`,
  redirectUri: 'http://127.0.0.1:9/node/callback',
  postLogoutRedirectUri: 'http://127.0.0.1:9/node/signed-out',
};
export const api = {
  clientId: 'node-api-client',
  secret: `node-api-client-${suffix}`,
  audience: 'https://api.node.interop.test',
};
