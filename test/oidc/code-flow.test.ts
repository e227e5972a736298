import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import {
  DEMO_TENANT_ID,
  demoSubject,
  DEMO_OIDC_USERS,
  startDemoOidcProvider,
  type DemoOidcProvider,
} from "../../src/demo/oidc-provider.js";
import {
  CookieJar,
  appGet,
  appPath,
  appPostForm,
  followProvider,
  startService,
} from "../support/oidc-helpers.js";

const BASE = "http://127.0.0.1:8080";
const ALICE = DEMO_OIDC_USERS[0]!;

let provider: DemoOidcProvider;

beforeAll(async () => {
  provider = await startDemoOidcProvider({
    port: 0,
    redirectUris: [`${BASE}/oidc/entra/callback`, `${BASE}/oidc/entra-post/callback`],
    postLogoutRedirectUris: [`${BASE}/`],
  });
});

afterAll(async () => {
  await provider.stop();
});

function connection(id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    type: "oidc" as const,
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    claims: "entra" as const,
    ...extra,
  };
}

describe("OIDC code flow against oidc-provider", () => {
  test("query mode signs in with entra id", async () => {
    const { app, signIn } = await startService([connection("entra")]);
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/entra/login?returnTo=/after", false);
    expect(login.status).toBe(302);
    const authorizationUrl = new URL(login.headers.location!);
    expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorizationUrl.searchParams.get("nonce")).toBeTruthy();
    expect(authorizationUrl.searchParams.get("state")).toBeTruthy();
    expect(authorizationUrl.searchParams.get("response_mode")).toBeNull();

    const result = await followProvider(
      authorizationUrl.href,
      `${BASE}/oidc/entra/callback`,
      "alice",
    );
    expect(result.kind).toBe("redirect");
    if (result.kind !== "redirect") return;
    const callback = await appGet(app, jar, appPath(result.location, BASE), false);
    expect(callback.status).toBe(303);
    expect(callback.headers.location).toBe(`${BASE}/after`);

    const session = await appGet(app, jar, "/session");
    expect(session.status).toBe(200);
    const identity = session.body.identity;
    expect(identity.id).toBe(`entra:${DEMO_TENANT_ID}:${ALICE.oid}`);
    expect(identity.protocol).toBe("oidc");
    expect(identity.subject).toBe(demoSubject(ALICE));
    expect(identity.subject).not.toBe(ALICE.oid);
    expect(identity.issuer).toBe(provider.issuer);
    expect(identity.email).toBe(ALICE.email);
    expect(identity.username).toBe(ALICE.email);
    expect(identity.name).toBe(ALICE.name);
    expect(identity.givenName).toBe(ALICE.givenName);
    expect(identity.familyName).toBe(ALICE.familyName);
    expect(identity.roles).toEqual(ALICE.roles);
    expect(identity.groups).toEqual(ALICE.groups);
    expect(identity.authMethods).toEqual(["pwd", "mfa"]);

    // Tokens stay server-side. In-process code can read them, but the browser never gets them.
    const text = JSON.stringify(session.body);
    const tokens = signIn.services.store;
    expect(tokens).toBeDefined();
    expect(text).not.toMatch(/access_?token|refresh_?token|id_?token/i);
    const auth = await appGet(app, jar, "/auth");
    expect(auth.status).toBe(200);
    expect(auth.headers["x-auth-request-user"]).toBe(`entra:${DEMO_TENANT_ID}:${ALICE.oid}`);
    expect(JSON.stringify(auth.headers)).not.toMatch(/eyJ/);
    expect(JSON.stringify(session.body)).not.toMatch(/eyJ/);
    await signIn.close();
  });

  test("form_post mode signs in", async () => {
    const { app, signIn } = await startService([
      connection("entra-post", { responseMode: "form_post" }),
    ]);
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/entra-post/login", false);
    const authorizationUrl = new URL(login.headers.location!);
    expect(authorizationUrl.searchParams.get("response_mode")).toBe("form_post");
    const bindingCookie = (login.headers["set-cookie"] as unknown as string[]).find((cookie) =>
      cookie.startsWith("fs_oidc_tx="),
    );
    expect(bindingCookie).toMatch(/samesite=none/i);
    expect(bindingCookie).toMatch(/secure/i);
    expect(bindingCookie).toMatch(/path=\/oidc\/entra-post/i);
    expect(bindingCookie).toMatch(/httponly/i);

    const result = await followProvider(
      authorizationUrl.href,
      `${BASE}/oidc/entra-post/callback`,
      "bob",
    );
    expect(result.kind).toBe("form_post");
    if (result.kind !== "form_post") return;
    const callback = await appPostForm(app, jar, appPath(result.action, BASE), result.fields);
    expect(callback.status).toBe(303);
    const session = await appGet(app, jar, "/session");
    expect(session.status).toBe(200);
    expect(session.body.identity.id).toBe(`entra:${DEMO_TENANT_ID}:${DEMO_OIDC_USERS[1]!.oid}`);
    await signIn.close();
  });

  test("idp logout returns end_session URL", async () => {
    const { app, signIn } = await startService([connection("entra")]);
    const jar = new CookieJar();
    const login = await appGet(app, jar, "/oidc/entra/login", false);
    const result = await followProvider(
      login.headers.location!,
      `${BASE}/oidc/entra/callback`,
      "carol",
    );
    if (result.kind !== "redirect") throw new Error("expected a redirect");
    await appGet(app, jar, appPath(result.location, BASE), false);
    const logout = await request(app, jar);
    expect(logout.status).toBe(200);
    const target = new URL(logout.body.redirect);
    expect(target.origin + target.pathname).toBe(`${provider.issuer}/session/end`);
    expect(target.searchParams.get("post_logout_redirect_uri")).toBe(`${BASE}/`);
    expect(target.searchParams.get("id_token_hint")).toMatch(/^eyJ/);
    expect(await (await appGet(app, jar, "/session")).status).toBe(401);
    await signIn.close();
  });
});

async function request(app: import("koa"), jar: CookieJar) {
  const supertest = (await import("supertest")).default;
  const response = await supertest(app.callback())
    .post("/logout?idp=1")
    .set("Cookie", jar.header())
    .set("Accept", "application/json");
  jar.store(response.headers["set-cookie"] as unknown as string[] | undefined);
  return response;
}
