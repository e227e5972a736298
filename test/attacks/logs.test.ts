import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  Browser,
  IDP_KEY,
  UNTRUSTED_KEY,
  buildResponseXml,
  buildSignedResponse,
  replaceOnce,
} from "../support/saml-harness.js";
import { AttackHarness, FIRST } from "./attack-harness.js";

/** Returns every cookie value of a browser, for searching the log. */
function cookieValues(browser: Browser): string[] {
  return browser
    .header()
    .split("; ")
    .map((pair) => pair.slice(pair.indexOf("=") + 1))
    .filter((value) => value.length >= 8);
}

/** Returns 40-character slices of a base64 value, so a partial copy in the log is found too. */
function slices(value: string): string[] {
  const found: string[] = [];
  for (let offset = 0; offset + 40 <= value.length; offset += 400)
    found.push(value.slice(offset, offset + 40));
  return found;
}

// Runs sign-ins through a real pino logger at level info and searches every line for message
// content, cookie values and signature values.
describe("log lines of sign-ins", () => {
  let harness: AttackHarness;
  const secrets: string[] = [];
  beforeEach(async () => {
    harness = await AttackHarness.start({ captureLog: true });
    secrets.length = 0;
  });
  afterEach(async () => {
    await harness.close();
  });

  async function post(xml: string, browser: Browser) {
    const encoded = Buffer.from(xml).toString("base64");
    secrets.push(...slices(encoded));
    const signatureValue = /<SignatureValue>([^<]{40})/.exec(xml)?.[1];
    if (signatureValue) secrets.push(signatureValue);
    const res = await harness.postResponse(xml, browser);
    secrets.push(...cookieValues(browser));
    return res;
  }

  function expectClean(): void {
    const text = harness.log.text();
    expect(harness.log.lines.length).toBeGreaterThan(0);
    for (const marker of [
      "<Assertion",
      "<samlp:",
      "SignatureValue",
      "BEGIN CERTIFICATE",
      "test-session-key",
    ]) {
      expect(text).not.toContain(marker);
    }
    for (const secret of secrets) expect(text).not.toContain(secret);
  }

  it("logs no message content for accepted and rejected sign-ins", async () => {
    const { requestId, cookies } = await harness.login(FIRST);
    secrets.push(...cookieValues(cookies));
    const fields = harness.fields(FIRST, requestId);
    expect((await post(buildSignedResponse(fields, IDP_KEY), cookies)).status).toBe(303);
    await harness.http().get("/auth").set("Cookie", cookies.header());

    const rejected: string[] = [
      buildSignedResponse(harness.fields(FIRST, "_unknown"), IDP_KEY),
      buildSignedResponse(harness.fields(FIRST, requestId), UNTRUSTED_KEY),
      replaceOnce(buildSignedResponse(harness.fields(FIRST), IDP_KEY), "Physician", "Admin"),
      buildResponseXml(
        {
          ...harness.fields(FIRST),
          statusCode: "urn:oasis:names:tc:SAML:2.0:status:Responder",
          statusMessage: "AADSTS50105: not assigned",
        },
        "",
      ),
      `<!DOCTYPE r [<!ENTITY x "y">]>${buildSignedResponse(harness.fields(FIRST), IDP_KEY)}`,
      buildSignedResponse(harness.fields(FIRST), IDP_KEY).replace(
        "</samlp:Response>",
        "<unclosed></samlp:Response>",
      ),
      buildSignedResponse(harness.fields(FIRST), IDP_KEY, "response"),
    ];
    for (const xml of rejected) {
      const res = await post(xml, new Browser());
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    expect(harness.log.lines.length).toBeGreaterThanOrEqual(rejected.length);
    expectClean();
  });

  it("logs no session cookie on logout", async () => {
    const { requestId, cookies } = await harness.login(FIRST);
    await post(buildSignedResponse(harness.fields(FIRST, requestId), IDP_KEY), cookies);
    await harness
      .http()
      .post("/logout")
      .set("Cookie", cookies.header())
      .set("Origin", "https://evil.example");
    secrets.push(...cookieValues(cookies));
    expectClean();
  });
});
