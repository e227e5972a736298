/**
 * Signs in through the development IdPs of `federated-signin demo` in headless Chromium, the way
 * a user does: the service on http://localhost:<port>, the IdPs on http://127.0.0.1:<port+1..3>.
 * The two hosts are different sites, so the SAML IdP's form POST to our ACS is cross-site.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "@jest/globals";
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { startDemo, type RunningDemo } from "../../src/cli/demo.js";
import { DEMO_TENANT_ID } from "../../src/demo/saml-idp.js";
import {
  describeWithBrowser,
  launchChromium,
  newPage,
  openSession,
  pickFreePortRange,
} from "./browser-support.js";

const describeBrowser = describeWithBrowser("demo sign-ins", { needsPhp: false });

const ALICE_OBJECT_ID = "a1111111-1111-4111-8111-111111111111";
const SAML_BINDING_COOKIE = "fs_saml_demo-saml";
const CAMILA_LOPEZ = "erXuFYUfucBZaryVksYEcMg3";

describeBrowser("demo sign-ins in Chromium", () => {
  let browser: Browser;
  let demo: RunningDemo;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    demo = await startDemo({ port: await pickFreePortRange(4), quiet: true });
  }, 60_000);

  afterAll(async () => {
    await demo?.stop();
    await browser?.close();
  });

  beforeEach(async () => {
    ({ context, page } = await newPage(browser));
  });

  afterEach(async () => {
    await context?.close();
  });

  /** Opens the sign-in page with `returnTo` and clicks the button of the connection. */
  async function startSignIn(connectionName: RegExp, returnTo: string): Promise<void> {
    await page.goto(`${demo.baseUrl}/?returnTo=${encodeURIComponent(returnTo)}`);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Sign in");
    await page.getByRole("link", { name: connectionName }).click();
  }

  /** Waits for the POST of the SAML response to our ACS and returns it. */
  function waitForAcsPost(): Promise<Request> {
    return page.waitForRequest(
      (request) =>
        request.method() === "POST" && request.url() === `${demo.baseUrl}/saml/demo-saml/acs`,
    );
  }

  it("signs in with the SAML demo IdP", async () => {
    await startSignIn(/Sign in with Demo Health \(SAML/, "/?after=saml");
    await page.waitForURL(`${demo.samlIdpUrl}/saml2?**`);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe(
      "Choose a test user",
    );

    // Chromium must have kept the request-binding cookie although the service runs on plain
    // http: localhost counts as a secure context, so Secure and SameSite=None are accepted.
    // context.cookies(url) would leave out this cookie, whose path is /saml/demo-saml/.
    const binding = (await context.cookies()).find(
      (cookie) => cookie.name === SAML_BINDING_COOKIE && cookie.domain === "localhost",
    );
    expect(binding).toBeDefined();
    expect(binding?.sameSite).toBe("None");
    expect(binding?.secure).toBe(true);
    expect(binding?.httpOnly).toBe(true);

    const acsPost = waitForAcsPost();
    await page.getByRole("button", { name: /Dr\. Alice Nguyen/ }).click();
    const acsRequest = await acsPost;
    await page.waitForURL(`${demo.baseUrl}/?after=saml`);

    // The auto-submitted form on 127.0.0.1 posted to localhost: a cross-site request that
    // still carried the binding cookie.
    const acsHeaders = await acsRequest.allHeaders();
    expect(acsHeaders["sec-fetch-site"]).toBe("cross-site");
    expect(acsHeaders["cookie"] ?? "").toContain(`${SAML_BINDING_COOKIE}=`);

    await expect(page.locator("#signed-in-user").textContent()).resolves.toBe("Dr. Alice Nguyen");
    const session = await openSession(page, demo.baseUrl);
    expect(session.status).toBe(200);
    expect(session.body.identity?.id).toBe(`entra:${DEMO_TENANT_ID}:${ALICE_OBJECT_ID}`);
    expect(session.body.identity?.protocol).toBe("saml");
    expect(session.body.identity?.email).toBe("alice.nguyen@demo-health.example");
    expect(session.body.identity?.roles).toEqual(["Physician"]);
    // A completed sign-in deletes the binding cookie.
    const cookieNames = (await context.cookies()).map((cookie) => cookie.name);
    expect(cookieNames).not.toContain(SAML_BINDING_COOKIE);
  });

  it("rejects a SAML response without the binding cookie", async () => {
    await startSignIn(/Sign in with Demo Health \(SAML/, "/");
    await page.waitForURL(`${demo.samlIdpUrl}/saml2?**`);
    // As if the browser had dropped the cross-site cookie: the response then matches no request
    // of this browser.
    await context.clearCookies({ name: SAML_BINDING_COOKIE });

    const acsResponse = page.waitForResponse(`${demo.baseUrl}/saml/demo-saml/acs`);
    await page.getByRole("button", { name: /Bob Patel/ }).click();
    expect((await acsResponse).status()).toBe(401);
    await expect(page.locator("#error-code").textContent()).resolves.toBe(
      "SAML_IN_RESPONSE_TO_UNKNOWN",
    );
    await expect(page.locator("#error-fix").textContent()).resolves.toContain(
      "Start the sign-in again",
    );
    expect((await openSession(page, demo.baseUrl)).status).toBe(401);
  });

  it("rejects an IdP-initiated SAML response", async () => {
    await page.goto(`${demo.samlIdpUrl}/idp-initiated`);
    const acsResponse = page.waitForResponse(`${demo.baseUrl}/saml/demo-saml/acs`);
    await page.getByRole("button", { name: /Carol Smith/ }).click();
    expect((await acsResponse).status()).toBe(401);

    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe(
      "Unsolicited SAML response",
    );
    await expect(page.locator("#error-code").textContent()).resolves.toBe("SAML_UNSOLICITED");
    await expect(page.locator("#error-fix").textContent()).resolves.toContain(
      "allowIdpInitiated: true",
    );
    await expect(page.locator("#error-connection").textContent()).resolves.toBe("demo-saml");
    expect((await openSession(page, demo.baseUrl)).status).toBe(401);
  });

  it("signs in with the OpenID Connect demo provider", async () => {
    await startSignIn(/Sign in with Demo Health \(OpenID Connect/, "/?after=oidc");
    await page.waitForURL(`${demo.oidcIssuer}/interaction/**`);
    await page.getByRole("link", { name: /Dr\. Alice Nguyen/ }).click();
    await page.waitForURL(`${demo.baseUrl}/?after=oidc`);

    await expect(page.locator("#signed-in-user").textContent()).resolves.toBe("Dr. Alice Nguyen");
    const session = await openSession(page, demo.baseUrl);
    expect(session.status).toBe(200);
    // The same id as the SAML sign-in of the same Entra user.
    expect(session.body.identity?.id).toBe(`entra:${DEMO_TENANT_ID}:${ALICE_OBJECT_ID}`);
    expect(session.body.identity?.protocol).toBe("oidc");
    expect(session.body.identity?.email).toBe("alice.nguyen@demo-health.example");
  });

  it("rejects an OpenID callback with a forged state", async () => {
    await startSignIn(/Sign in with Demo Health \(OpenID Connect/, "/");
    await page.waitForURL(`${demo.oidcIssuer}/interaction/**`);
    // A link from an attacker's page: a callback with a state this browser never started.
    const callback = await page.goto(
      `${demo.baseUrl}/oidc/demo-oidc/callback?code=forged-code&state=forged-state`,
    );
    expect(callback?.status()).toBe(401);
    await expect(page.locator("#error-code").textContent()).resolves.toBe("OIDC_STATE_MISMATCH");
    await expect(page.locator("#error-fix").textContent()).resolves.not.toBe("");
    expect((await openSession(page, demo.baseUrl)).status).toBe(401);
  });

  it("launches from the SMART demo EHR without leaking tokens", async () => {
    const tokens = observeTokenResponses(`${new URL(demo.smartEhrUrl).origin}/oauth2/token`);
    const ourBodies = collectResponseBodies(page, demo.baseUrl);
    try {
      await page.goto(`${new URL(demo.smartEhrUrl).origin}/`);
      await page.getByRole("link", { name: /Camila Lopez/ }).click();
      await page.waitForURL(`${demo.baseUrl}/`);
      await expect(page.locator("#signed-in-user").textContent()).resolves.toBe("DEMOCLIN");

      const session = await openSession(page, demo.baseUrl);
      expect(session.status).toBe(200);
      expect(session.body.identity?.protocol).toBe("smart");
      expect(session.body.identity?.smart?.patient).toBe(CAMILA_LOPEZ);
      expect(session.body.identity?.smart?.fhirBaseUrl).toBe(demo.smartEhrUrl);

      // The service received tokens from the EHR, and none of them reached the browser.
      expect(tokens.values().length).toBeGreaterThanOrEqual(2);
      const cookies = (await context.cookies()).map((cookie) => `${cookie.name}=${cookie.value}`);
      const seenByBrowser = [...(await ourBodies.texts()), session.text, ...cookies].join("\n");
      for (const [index, secret] of tokens.values().entries()) {
        expect({ token: index, found: seenByBrowser.includes(secret) }).toEqual({
          token: index,
          found: false,
        });
      }
      for (const key of ["access_token", "accessToken", "refresh_token", "refreshToken"]) {
        expect(session.text).not.toContain(key);
      }
    } finally {
      tokens.restore();
    }
  });

  it("signs out with the Sign out button", async () => {
    await startSignIn(/Sign in with Demo Health \(OpenID Connect/, "/");
    await page.getByRole("link", { name: /Bob Patel/ }).click();
    await page.waitForURL(`${demo.baseUrl}/`);
    expect((await openSession(page, demo.baseUrl)).status).toBe(200);

    await page.goto(`${demo.baseUrl}/`);
    const logoutRequest = page.waitForRequest(`${demo.baseUrl}/logout`);
    const logoutResponse = page.waitForResponse(`${demo.baseUrl}/logout`);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    // The form POST must carry our origin: with Origin: null the service rejects the logout.
    const logoutHeaders = await (await logoutRequest).allHeaders();
    expect(logoutHeaders["origin"]).toBe(new URL(demo.baseUrl).origin);
    expect((await logoutResponse).status()).toBe(303);
    await page.waitForURL(`${demo.baseUrl}/`);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Sign in");
    const session = await openSession(page, demo.baseUrl);
    expect(session.status).toBe(401);
    expect(session.body.error).toBe("NOT_SIGNED_IN");
  });
});

/**
 * Wraps the global fetch, which the service uses for its back-channel calls, and keeps the
 * access, refresh and ID tokens of every response from `tokenUrl`. It changes no request or
 * response. The values stay in memory for the comparison and are never printed.
 */
function observeTokenResponses(tokenUrl: string): { values(): string[]; restore(): void } {
  const original = globalThis.fetch;
  const seen: string[] = [];
  globalThis.fetch = async (input, init) => {
    const response = await original(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(tokenUrl)) {
      const body = (await response.clone().json()) as Record<string, unknown>;
      for (const key of ["access_token", "refresh_token", "id_token"]) {
        if (typeof body[key] === "string") seen.push(body[key]);
      }
    }
    return response;
  };
  return {
    values: () => [...seen],
    restore: () => {
      globalThis.fetch = original;
    },
  };
}

/** Keeps the text and Location header of every response from `baseUrl`'s origin to `page`. */
function collectResponseBodies(page: Page, baseUrl: string): { texts(): Promise<string[]> } {
  const origin = new URL(baseUrl).origin;
  const pending: Array<Promise<string>> = [];
  page.on("response", (response) => {
    if (new URL(response.url()).origin !== origin) return;
    const location = response.headers()["location"] ?? "";
    // Redirects have no body, so text() fails for them and only the Location header counts.
    const text = response.text().catch(() => "");
    pending.push(text.then((body) => `${location}\n${body}`));
  });
  return { texts: () => Promise.all(pending) };
}
