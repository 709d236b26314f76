// An OAuth 2.0 / OpenID Connect provider for envoi's interoperability tests,
// built on oidc-provider (an independent, certified implementation) and
// configured the way real providers are: confidential clients that allow
// client_secret_basic only, public clients with PKCE required, rotating
// refresh tokens, JWT access tokens over 1 KB with a short lifetime, token
// introspection for the mail server, the device flow and client
// credentials.
//
// Usage: node provider.mjs CONFIG.json. The configuration (written by the Go
// side, see internal/interop) gives the port, the accounts, the clients and
// the access-token lifetime. The provider prints one JSON line per event on
// standard output ({"event":"listening"} first), which the tests read:
// token endpoint calls (with the tokens issued), introspections,
// revocations.
//
// Token introspection (RFC 7662) for the mail server is at /introspect:
// oidc-provider serves introspection for its opaque tokens only and refuses
// its JWT access tokens by design (a resource server is expected to verify
// them itself), so this endpoint verifies the JWT (signature, issuer,
// audience, expiry) and asks the library's grant store whether the consent
// behind it still stands, as a provider's own introspection does. The caller
// authenticates with HTTP Basic as cfg.introspector.
//
// Test-only routes, on this loopback server alone:
//   POST /_test/revoke?account=EMAIL  destroys every grant of the account
//                                     (consent revoked by the user or an admin)
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import Provider from 'oidc-provider';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${cfg.port}`;
const RESOURCE = 'urn:envoi:smtp';

function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const accounts = new Map((cfg.accounts || []).map((a) => [a.email, a]));
// grants of each account, so that a test can revoke the consent.
const grantsOf = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'interop', use: 'sig', alg: 'RS256' };
const publicJWKS = createLocalJWKSet({ keys: [{ kty: jwk.kty, n: jwk.n, e: jwk.e, kid: jwk.kid, alg: jwk.alg, use: 'sig' }] });

// Claims that make access tokens as long as real ones (Microsoft's are
// 1.5 to 3 KB): directory groups and roles.
function padding() {
  const groups = [];
  for (let i = 0; i < cfg.groups; i += 1) groups.push(randomUUID());
  return groups;
}

const configuration = {
  clients: cfg.clients,
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Claims asked by scope go in the id_token of the code flow too (envoi
  // reads who signed in from it).
  conformIdTokenClaims: false,
  scopes: ['openid', 'offline_access', 'email', 'profile', 'smtp'],
  async findAccount(ctx, id) {
    const a = accounts.get(id);
    if (!a) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, name: a.name || id };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'smtp',
        audience: RESOURCE,
        accessTokenTTL: cfg.accessTokenTTL,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // Like Microsoft: a refresh token whenever the client may refresh (the
  // library's default wants prompt=consent for offline_access).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: () => true,
  pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' },
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken' && token.kind !== 'ClientCredentials') return undefined;
    // The mailbox the token may send as: the user's, or for an app-only
    // token the shared mailbox the client was granted.
    const email = token.accountId || (cfg.mailboxes || {})[token.clientId];
    return {
      email, grant: token.grantId, groups: padding(), roles: ['Mail.Send', 'SMTP.Send'],
    };
  },
  ttl: {
    AccessToken: cfg.accessTokenTTL,
    ClientCredentials: cfg.accessTokenTTL,
    Grant: 3600,
    Interaction: 600,
    Session: 3600,
    DeviceCode: 600,
    RefreshToken: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>error</title><h1 data-error="${escape(out.error)}">${escape(out.error)}</h1><p>${escape(out.error_description || '')}</p>`;
  },
};

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const provider = new Provider(issuer, configuration);

function track(token) {
  if (!token.accountId || !token.grantId) return;
  if (!grantsOf.has(token.accountId)) grantsOf.set(token.accountId, new Set());
  grantsOf.get(token.accountId).add(token.grantId);
}
provider.on('access_token.issued', track);
provider.on('refresh_token.saved', track);

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

function page(ctx, prompt, uid, inner) {
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = `<!doctype html><title>${prompt}</title><body data-prompt="${prompt}">`
    + `<form method="post" action="/interaction/${uid}/${prompt}">${inner}<button type="submit">Continue</button></form></body>`;
}

// The sign-in and consent pages, as a provider shows them to a person.
async function introspect(ctx) {
  const [user, pass] = Buffer.from((ctx.get('authorization').match(/^basic (.+)$/i) || [])[1] || '', 'base64').toString().split(':');
  const who = cfg.introspector;
  if (decodeURIComponent(user || '') !== who.client_id || decodeURIComponent(pass || '') !== who.client_secret) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Basic realm="introspection"');
    ctx.body = { error: 'invalid_client' };
    emit({ event: 'introspection', error: 'invalid_client' });
    return;
  }
  const form = ctx.method === 'POST' ? await readForm(ctx.req) : ctx.query;
  let body = { active: false };
  try {
    const { payload } = await jwtVerify(form.token || '', publicJWKS, { issuer, audience: RESOURCE });
    let active = true;
    if (payload.grant) {
      const grant = await provider.Grant.find(payload.grant);
      active = Boolean(grant) && !grant.isExpired;
    }
    if (active) {
      body = {
        active, sub: payload.sub, email: payload.email, client_id: payload.client_id, scope: payload.scope,
        exp: payload.exp, iat: payload.iat, iss: payload.iss, aud: payload.aud, jti: payload.jti, token_type: 'Bearer',
      };
    }
    emit({ event: 'introspection', active, jti: payload.jti, email: payload.email, length: (form.token || '').length });
  } catch (err) {
    emit({ event: 'introspection', active: false, error: err.code || err.message });
  }
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

// oidc-provider takes client_secret_basic and client_secret_post for one
// another. Real providers do not all: a client registered for
// client_secret_basic (the method RFC 6749 §2.3.1 requires every server to
// support) is refused with invalid_client when its secret comes in the
// body, and one registered for client_secret_post when it comes in the
// Authorization header, as strict servers do.
const authMethodOf = new Map(cfg.clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
const CLIENT_AUTH_PATHS = new Set(['/token', '/device/auth', '/token/revocation', '/token/introspection']);

async function strictClientAuth(ctx) {
  const raw = await new Promise((resolve, reject) => {
    let b = '';
    ctx.req.setEncoding('utf8');
    ctx.req.on('data', (c) => { b += c; });
    ctx.req.on('end', () => resolve(b));
    ctx.req.on('error', reject);
  });
  // Hand the body on to the library, which reads a parsed body when the
  // stream is consumed.
  ctx.req.body = raw;
  const form = Object.fromEntries(new URLSearchParams(raw));
  const basic = /^basic /i.test(ctx.get('authorization'));
  let clientId = form.client_id;
  if (basic) {
    const decoded = Buffer.from(ctx.get('authorization').slice(6).trim(), 'base64').toString();
    clientId = decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, ' '));
  }
  const method = authMethodOf.get(clientId);
  let refusal;
  if (method === 'client_secret_basic' && form.client_secret !== undefined) {
    refusal = 'this client authenticates with HTTP Basic (client_secret_basic) only';
  } else if (method === 'client_secret_post' && basic) {
    refusal = 'this client authenticates with client_secret_post only';
  }
  if (!refusal) return false;
  ctx.status = 401;
  ctx.set('WWW-Authenticate', 'Basic realm="token"');
  ctx.body = { error: 'invalid_client', error_description: refusal };
  emit({
    event: ctx.path === '/token' ? 'token' : 'client_auth', path: ctx.path, grant_type: form.grant_type,
    client_id: clientId, basic, status: 401, error: 'invalid_client',
  });
  return true;
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && CLIENT_AUTH_PATHS.has(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    if (await strictClientAuth(ctx)) return;
  }
  if (ctx.path === '/introspect') {
    await introspect(ctx);
    return;
  }
  const m = ctx.path.match(/^\/interaction\/([^/]+)(?:\/(login|consent))?$/);
  if (ctx.path === '/_test/revoke' && ctx.method === 'POST') {
    const account = ctx.query.account;
    let n = 0;
    for (const grantId of grantsOf.get(account) || []) {
      const grant = await provider.Grant.find(grantId);
      if (grant) {
        await grant.destroy();
        n += 1;
      }
      for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode']) {
        await provider[model].revokeByGrantId(grantId);
      }
    }
    grantsOf.delete(account);
    emit({ event: 'revoked', account, grants: n });
    ctx.body = { revoked: n };
    return;
  }
  if (!m) {
    await next();
    return;
  }
  const [, uid, action] = m;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  if (ctx.method === 'GET') {
    if (prompt.name === 'login') {
      page(ctx, 'login', uid, '<input type="email" name="email"><input type="password" name="password">');
    } else {
      page(ctx, 'consent', uid, `<p>${escape(params.client_id)} asks for ${escape(params.scope || '')}</p>`);
    }
    return;
  }
  const form = await readForm(ctx.req);
  if (action === 'login') {
    const a = accounts.get(form.email);
    if (!a || a.password !== form.password) {
      page(ctx, 'login', uid, '<p data-error="wrong">Wrong e-mail or password</p><input type="email" name="email"><input type="password" name="password">');
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: a.email } }, { mergeWithLastSubmission: false });
    return;
  }
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const d = prompt.details;
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  if (d.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const grantId = await grant.save();
  if (!grantsOf.has(session.accountId)) grantsOf.set(session.accountId, new Set());
  grantsOf.get(session.accountId).add(grantId);
  await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
});

// What the tests read: each call to the token and introspection endpoints.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token') {
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    emit({
      event: 'token',
      grant_type: ctx.oidc?.params?.grant_type,
      client_id: ctx.oidc?.client?.clientId,
      auth_method: ctx.oidc?.client?.clientAuthMethod,
      basic: /^basic /i.test(ctx.get('authorization')),
      status: ctx.status,
      error: body.error,
      access_token_length: body.access_token ? body.access_token.length : 0,
      // The values themselves, for the test that looks for them in envoi's
      // data and logs (this provider is a test's own).
      access_token: body.access_token,
      refresh_token: body.refresh_token,
    });
  }
});

provider.listen(cfg.port, '127.0.0.1', () => emit({ event: 'listening', issuer }));
