import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { DEMO_USERS, demoUserAttributes } from "../../src/demo/saml-idp.js";
import { ENTRA_ATTRIBUTES } from "../../src/demo/saml-response-builder.js";
import {
  BASE_URL,
  Browser,
  IDP_KEY,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  replaceOnce,
  signElement,
} from "../support/saml-harness.js";
import { AttackHarness, FIRST, expectRejectedAt, setCookies } from "./attack-harness.js";

const BOB = DEMO_USERS[1]!;

function cookiePair(browser: Browser, name: string): string {
  const pair = browser
    .header()
    .split("; ")
    .find((entry) => entry.startsWith(`${name}=`));
  if (!pair) throw new Error(`test setup: no ${name} cookie`);
  return pair.slice(name.length + 1);
}

describe("sessions, cookies and pages under attack", () => {
  let harness: AttackHarness;
  beforeEach(async () => {
    harness = await AttackHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function signIn(
    browser: Browser = new Browser(),
    change?: (xml: string) => string,
    asBob = false,
  ) {
    const { requestId } = await harness.login(FIRST, browser);
    const fields = harness.fields(FIRST, requestId);
    if (asBob) {
      fields.nameIdXml = BOB.objectId;
      fields.attributes = demoUserAttributes(BOB);
    }
    const assertion = signElement(
      (change ?? ((xml: string) => xml))(buildAssertionXml(fields)),
      "Assertion",
      fields.assertionId,
      IDP_KEY,
    );
    const res = await harness.postResponse(buildResponseXml(fields, assertion), browser);
    expect(res.status).toBe(303);
    return browser;
  }

  describe("session cookie", () => {
    it("replaces a planted session cookie at sign-in", async () => {
      const attacker = await signIn();
      const planted = `fs_session=${cookiePair(attacker, "fs_session")}; fs_session.sig=${cookiePair(attacker, "fs_session.sig")}`;
      const victim = new Browser();
      victim.store([
        `fs_session=${cookiePair(attacker, "fs_session")}`,
        `fs_session.sig=${cookiePair(attacker, "fs_session.sig")}`,
      ]);
      await signIn(victim, undefined, true);

      expect(cookiePair(victim, "fs_session")).not.toBe(cookiePair(attacker, "fs_session"));
      const viaPlanted = await harness
        .http()
        .get("/session")
        .set("Cookie", planted)
        .set("Accept", "application/json");
      if (viaPlanted.status === 200) {
        expect(viaPlanted.body.identity.subject).not.toBe(BOB.objectId);
      }
      expect((await harness.session(victim)).body.identity.subject).toBe(BOB.objectId);
    });

    it("rejects the binding cookie used as session cookie", async () => {
      const { cookies } = await harness.login(FIRST);
      const value = cookiePair(cookies, "fs_saml_mercy");
      const signature = cookiePair(cookies, "fs_saml_mercy.sig");
      const res = await harness
        .http()
        .get("/session")
        .set("Cookie", `fs_session=${value}; fs_session.sig=${signature}`)
        .set("Accept", "application/json");
      expect(res.status).toBe(401);
    });

    it("rejects a session cookie without its signature", async () => {
      const browser = await signIn();
      const res = await harness
        .http()
        .get("/session")
        .set("Cookie", `fs_session=${cookiePair(browser, "fs_session")}`)
        .set("Accept", "application/json");
      expect(res.status).toBe(401);
    });

    it("rejects a session cookie with another cookie's signature", async () => {
      const first = await signIn();
      const second = await signIn();
      const res = await harness
        .http()
        .get("/auth")
        .set(
          "Cookie",
          `fs_session=${cookiePair(first, "fs_session")}; fs_session.sig=${cookiePair(second, "fs_session.sig")}`,
        );
      expect(res.status).toBe(401);
    });
  });

  describe("logout CSRF", () => {
    it.each([
      ["a foreign Origin", { Origin: "https://evil.example" }],
      ["Origin null", { Origin: "null" }],
      ["Sec-Fetch-Site cross-site", { "Sec-Fetch-Site": "cross-site" }],
      [
        "Sec-Fetch-Site same-site",
        { "Sec-Fetch-Site": "same-site", Origin: "https://sub.example.org" },
      ],
      ["a look-alike Origin", { Origin: "https://signin.example.org.evil.example" }],
    ])("keeps the session on a logout with %s", async (_name, headers) => {
      const browser = await signIn();
      const res = await harness
        .http()
        .post("/logout")
        .set("Cookie", browser.header())
        .set(headers)
        .set("Accept", "application/json");
      expect(res.status).toBe(400);
      expect((await harness.session(browser)).status).toBe(200);
    });

    it("ends the session on a same-origin logout", async () => {
      const browser = await signIn();
      const res = await harness
        .http()
        .post("/logout")
        .set("Cookie", browser.header())
        .set("Origin", BASE_URL)
        .set("Sec-Fetch-Site", "same-origin");
      expect(res.status).toBe(303);
      browser.store(res.headers["set-cookie"]);
      expect((await harness.session(browser)).status).toBe(401);
    });
  });

  describe("forward-auth headers", () => {
    it("keeps CR, LF and non-ASCII out of raw headers", async () => {
      const browser = await signIn(new Browser(), (xml) =>
        replaceOnce(xml, ">Physician<", ">Physician&#13;&#10;X-Injected: 1<")
          .replace(">Dr. Alice Nguyen<", ">Zoë Ñguyen 🩺<")
          .replace(
            "alice.nguyen@demo-health.example<",
            "alice.nguyen@demo-health.example&#10;X-Mail: 1<",
          ),
      );
      const res = await harness.http().get("/auth").set("Cookie", browser.header());
      expect(res.status).toBe(200);
      expect(res.headers["x-injected"]).toBeUndefined();
      expect(res.headers["x-mail"]).toBeUndefined();
      for (const [name, value] of Object.entries(res.headers)) {
        if (!name.startsWith("x-auth-request")) continue;
        expect(String(value)).toMatch(/^[\x20-\x7e]*$/);
      }
      expect(String(res.headers["x-auth-request-roles"])).toContain("%0AX-Injected");
    });

    it("serves Entra's maximum of 150 groups", async () => {
      // Entra puts at most 150 groups in a SAML token; past that it sends an overage claim.
      const groups = Array.from(
        { length: 150 },
        (_, i) => `6b1c0000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      );
      const { requestId, cookies } = await harness.login(FIRST);
      const fields = harness.fields(FIRST, requestId);
      fields.attributes = { ...fields.attributes, [ENTRA_ATTRIBUTES.groups]: groups };
      expect(
        (await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies)).status,
      ).toBe(303);
      const res = await harness.http().get("/auth").set("Cookie", cookies.header());
      expect(res.status).toBe(200);
      expect(String(res.headers["x-auth-request-groups"]).split(",")).toHaveLength(150);
      expect(String(res.headers["x-auth-request-groups"]).length).toBeLessThan(8 * 1024);
    });
  });

  describe("pages and error bodies", () => {
    it("escapes an IdP StatusMessage on the error page", async () => {
      const { requestId, cookies } = await harness.login(FIRST);
      const fields = harness.fields(FIRST, requestId);
      fields.statusCode = "urn:oasis:names:tc:SAML:2.0:status:Responder";
      fields.statusMessage = `<script>alert(1)</script><img src=x onerror=alert(2)>`;
      const res = await harness
        .http()
        .post(`/saml/${FIRST}/acs`)
        .set("Cookie", cookies.header())
        .set("Accept", "text/html")
        .type("form")
        .send({ SAMLResponse: Buffer.from(buildResponseXml(fields, "")).toString("base64") });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain("<script>alert");
      expect(res.text).not.toContain("<img src=x");
      expect(res.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
    });

    it("escapes attribute values on the signed-in page", async () => {
      const browser = await signIn(new Browser(), (xml) =>
        replaceOnce(xml, ">Dr. Alice Nguyen<", ">&lt;img src=x onerror=alert(1)&gt;<"),
      );
      const res = await harness
        .http()
        .get("/")
        .set("Cookie", browser.header())
        .set("Accept", "text/html");
      expect(res.status).toBe(200);
      expect(res.text).not.toContain("<img src=x");
      expect(res.text).toContain("&lt;img src=x onerror=alert(1)&gt;");
    });

    it.each([
      ["application/json", "json"],
      ["text/html", "html"],
      ["application/json, text/html;q=0.5", "json"],
      ["*/*", "html"],
    ])("keeps the sent Issuer out of the %s error body", async (accept, kind) => {
      const { requestId, cookies } = await harness.login(FIRST);
      const fields = harness.fields(FIRST, requestId);
      fields.issuer = "https://evil.example/probe-7f3a";
      fields.responseIssuer = null;
      const res = await harness
        .http()
        .post(`/saml/${FIRST}/acs`)
        .set("Cookie", cookies.header())
        .set("Accept", accept)
        .type("form")
        .send({
          SAMLResponse: Buffer.from(buildSignedResponse(fields, IDP_KEY)).toString("base64"),
        });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain("probe-7f3a");
      if (kind === "json") {
        expect(Object.keys(res.body).sort()).toEqual(["connection", "error", "fix", "message"]);
      } else {
        expect(res.headers["content-type"]).toContain("text/html");
      }
    });

    it("keeps the response ID and InResponseTo out of the JSON error", async () => {
      const browser = new Browser();
      const { requestId } = await harness.login(FIRST, browser);
      const fields = {
        ...harness.fields(FIRST, "_probe-inresponse"),
        responseId: "_probe-response",
      };
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), browser);
      expect(requestId).not.toBe("_probe-inresponse");
      await expectRejectedAt(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", browser);
      expect(res.text).not.toContain("_probe");
      expect(setCookies(res).some((line) => line.startsWith("fs_session="))).toBe(false);
    });
  });
});
