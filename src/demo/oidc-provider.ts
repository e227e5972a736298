/**
 * A development OpenID provider on loopback, built on oidc-provider, that issues Entra-shaped ID
 * tokens for the demo users alice, bob and carol. The tokens carry tid, oid, preferred_username,
 * email, name, given_name, family_name, roles, groups and amr, and a pairwise-looking `sub` that
 * differs from `oid`. Never for production: every user signs in with one click and no password.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider, { type Configuration } from "oidc-provider";
import { renderPage } from "../http/html.js";
import { DEMO_USERS } from "./saml-idp.js";

/** Entra tenant ID of the demo users; the SAML demo IdP sends the same one. */
export const DEMO_TENANT_ID = "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c";

/** A demo user with the Entra claims the provider issues. */
export interface DemoOidcUser {
  key: string;
  oid: string;
  name: string;
  givenName: string;
  familyName: string;
  email: string;
  roles: string[];
  groups: string[];
}

/** The demo users: the same people, object IDs, groups and roles as the SAML demo IdP's. */
export const DEMO_OIDC_USERS: readonly DemoOidcUser[] = DEMO_USERS.map((user) => ({
  key: user.key,
  oid: user.objectId,
  name: user.displayName,
  givenName: user.givenName,
  familyName: user.surname,
  email: user.upn,
  roles: user.roles,
  groups: user.groups,
}));

/** Options of {@link startDemoOidcProvider}. */
export interface DemoOidcProviderOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** Redirect URIs registered for the demo client. */
  redirectUris: string[];
  /** Client ID of the demo client; default "demo-oidc-client". */
  clientId?: string;
  /** Client secret (client_secret_basic and client_secret_post); default "demo-oidc-secret". */
  clientSecret?: string;
  /** URIs accepted as post_logout_redirect_uri; default none. */
  postLogoutRedirectUris?: string[];
}

/** A running demo provider. */
export interface DemoOidcProvider {
  /** Issuer URL, e.g. http://127.0.0.1:4001 */
  issuer: string;
  clientId: string;
  clientSecret: string;
  stop(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "::1", "localhost"]);

/** Pairwise-looking subject of a user: stable, opaque and different from the object ID. */
export function demoSubject(user: DemoOidcUser): string {
  return createHash("sha256").update(`demo-pairwise:${user.oid}`).digest("base64url").slice(0, 43);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Starts the demo OpenID provider on a loopback address. */
export async function startDemoOidcProvider(
  options: DemoOidcProviderOptions,
): Promise<DemoOidcProvider> {
  const host = options.host ?? "127.0.0.1";
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new Error(
      `Invalid host ${host}: the demo OpenID provider listens on loopback only. Use 127.0.0.1, ::1 or localhost.`,
    );
  }
  const clientId = options.clientId ?? "demo-oidc-client";
  const clientSecret = options.clientSecret ?? "demo-oidc-secret";
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  const usersBySubject = new Map(DEMO_OIDC_USERS.map((user) => [demoSubject(user), user]));
  const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
    format: "jwk",
  });

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        post_logout_redirect_uris: options.postLogoutRedirectUris ?? [],
        response_types: ["code"],
        grant_types: ["authorization_code", "refresh_token"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: "demo-rs256", use: "sig", alg: "RS256" }] },
    claims: {
      auth_time: null,
      sid: null,
      openid: ["sub", "amr"],
      profile: [
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "tid",
        "oid",
        "roles",
        "groups",
      ],
      email: ["email"],
    },
    // Entra puts profile claims in the ID token, but oidc-provider keeps them for userinfo by
    // default.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    responseTypes: ["code"],
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [createHash("sha256").update(`${issuer}:cookies`).digest("hex")] },
    async findAccount(_ctx, sub) {
      const user = usersBySubject.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            amr: ["pwd", "mfa"],
            tid: DEMO_TENANT_ID,
            oid: user.oid,
            preferred_username: user.email,
            email: user.email,
            name: user.name,
            given_name: user.givenName,
            family_name: user.familyName,
            roles: user.roles,
            groups: user.groups,
          };
        },
      };
    },
  };
  const provider = new Provider(issuer, configuration);

  // The interaction page lists the demo users. Choosing one signs in and grants the request.
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(ctx.path);
    if (!match || ctx.method !== "GET") {
      await next();
      return;
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const userKey = typeof ctx.query.user === "string" ? ctx.query.user : undefined;
    const user = DEMO_OIDC_USERS.find((candidate) => candidate.key === userKey);
    const sessionSubject = details.session?.accountId;
    if (!match[2] && !(details.prompt.name === "consent" && sessionSubject)) {
      ctx.type = "html";
      const choices = DEMO_OIDC_USERS.map(
        (candidate) =>
          `<li><a class="connection" href="/interaction/${escapeHtml(details.uid)}/login?user=${candidate.key}"><span class="choice-name">${escapeHtml(candidate.name)}<span class="choice-detail">${escapeHtml(candidate.email)}</span></span><span class="badge">${escapeHtml(candidate.roles.join(", ") || "No roles")}</span></a></li>`,
      ).join("\n");
      ctx.body = renderPage(
        "Sign in to the demo OpenID provider",
        `<div class="card">
<h1 id="picker-heading">Choose a test user</h1>
<p class="lead">The application asked you to sign in. Pick the user to sign in as.</p>
<ul class="connections" aria-labelledby="picker-heading">
${choices}
</ul>
<p class="banner"><strong>Development OpenID provider.</strong> It signs in anyone who picks a name, without a password. Never use it for real users.</p>
</div>`,
        { siteName: "Demo Health", tagline: "OpenID provider for development", variant: "idp" },
      );
      return;
    }
    const accountId = user ? demoSubject(user) : sessionSubject;
    if (!accountId) {
      ctx.status = 400;
      ctx.body = "unknown demo user";
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? "openid"));
    const grantId = await grant.save();
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId, amr: ["pwd", "mfa"] }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    // interactionFinished wrote the 303 response itself.
    ctx.respond = false;
  });

  server.on("request", provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
