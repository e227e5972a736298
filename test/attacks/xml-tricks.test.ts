import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  ALICE,
  Browser,
  CONNECTION_ID,
  IDP_ENTITY_ID,
  IDP_KEY,
  SamlHarness,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
  replaceOnce,
} from "../support/saml-harness.js";

const EMAIL_ATTRIBUTE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

// Canonicalization, comment, CDATA and parser tricks. Changes "after signing" are made to the
// signed XML, so the signature only survives where exclusive C14N hides the change.
describe("ACS canonicalization tricks", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function signedFor(change: (fields: ReturnType<SamlHarness["fields"]>) => void = () => {}) {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    change(fields);
    return { cookies, fields, xml: buildSignedResponse(fields, IDP_KEY) };
  }

  async function identityAfter(xml: string, cookies: Browser) {
    const res = await harness.postResponse(xml, cookies);
    expect(res.status).toBe(303);
    const session = await harness.session(cookies);
    expect(session.status).toBe(200);
    return session.body.identity as Record<string, unknown>;
  }

  it("reads the whole email when a comment splits it", async () => {
    const longEmail = "alice@demo-health.example.evil.example";
    const { cookies, xml } = await signedFor((fields) => {
      fields.attributes = { ...fields.attributes, [EMAIL_ATTRIBUTE]: longEmail };
    });
    const split = replaceOnce(xml, longEmail, "alice@demo-health.example<!---->.evil.example");
    const identity = await identityAfter(split, cookies);
    expect(identity.email).toBe(longEmail);
  });

  it("keeps the Issuer exact when a comment splits it", async () => {
    const { cookies, xml } = await signedFor();
    const split = replaceOnce(
      xml,
      `<Issuer>${IDP_ENTITY_ID}</Issuer><Signature`,
      `<Issuer>https://sts.windows.net/<!---->${IDP_ENTITY_ID.slice("https://sts.windows.net/".length)}</Issuer><Signature`,
    );
    const identity = await identityAfter(split, cookies);
    expect(identity.issuer).toBe(IDP_ENTITY_ID);
  });

  it("reads a CDATA-split NameID as the signed value", async () => {
    const { cookies, xml } = await signedFor();
    const half = ALICE.objectId.length / 2;
    const split = replaceOnce(
      xml,
      `>${ALICE.objectId}</NameID>`,
      `>${ALICE.objectId.slice(0, half)}<![CDATA[${ALICE.objectId.slice(half)}]]></NameID>`,
    );
    const identity = await identityAfter(split, cookies);
    expect(identity.subject).toBe(ALICE.objectId);
  });

  it("reads a character reference in the NameID as the signed value", async () => {
    const { cookies, xml } = await signedFor();
    const split = replaceOnce(
      xml,
      `>${ALICE.objectId}</NameID>`,
      `>&#97;${ALICE.objectId.slice(1)}</NameID>`,
    );
    const identity = await identityAfter(split, cookies);
    expect(identity.subject).toBe(ALICE.objectId);
  });

  it("rejects a processing instruction added to the NameID", async () => {
    const { cookies, xml } = await signedFor();
    const changed = replaceOnce(xml, `</NameID>`, `<?evil .example?></NameID>`);
    const res = await harness.postResponse(changed, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects xml:base added to the signed assertion", async () => {
    const { cookies, xml } = await signedFor();
    const changed = replaceOnce(xml, `<Assertion `, `<Assertion xml:base="https://evil.example/" `);
    const res = await harness.postResponse(changed, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects a NameID redeclared into another namespace", async () => {
    const { cookies, xml } = await signedFor();
    // Exclusive C14N renders the namespace actually used, so the digest changes.
    const changed = replaceOnce(xml, `<NameID `, `<NameID xmlns="urn:example:evil" `);
    const res = await harness.postResponse(changed, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });
});

describe("ACS parser tricks", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function postRaw(body: Buffer | string, browser: Browser = new Browser()) {
    const samlResponse = typeof body === "string" ? body : body.toString("base64");
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Cookie", browser.header())
      .set("Accept", "application/json")
      .type("form")
      .send({ SAMLResponse: samlResponse });
    return res;
  }

  async function signed() {
    const { requestId, cookies } = await harness.login();
    return { cookies, xml: buildSignedResponse(harness.fields(requestId), IDP_KEY) };
  }

  it.each([
    ["lower-case doctype", (xml: string) => `<!doctype r>${xml}`],
    [
      "doctype after the XML declaration",
      (xml: string) => `<?xml version="1.0"?>\n<!DOCTYPE r>\n${xml}`,
    ],
    ["bare ENTITY declaration", (xml: string) => `<!ENTITY x "y">${xml}`],
    ["ELEMENT declaration", (xml: string) => `<!ELEMENT r ANY>${xml}`],
    [
      "DOCTYPE inside Extensions",
      (xml: string) =>
        replaceOnce(
          xml,
          "</samlp:Status>",
          "</samlp:Status><samlp:Extensions><!DOCTYPE x></samlp:Extensions>",
        ),
    ],
  ])("rejects a %s", async (_name, change) => {
    const { cookies, xml } = await signed();
    const res = await postRaw(Buffer.from(change(xml), "utf8"), cookies);
    await expectRejected(harness, res, "SAML_DTD_FORBIDDEN", cookies);
  });

  it("rejects a UTF-16 response carrying a DOCTYPE", async () => {
    const { cookies, xml } = await signed();
    const text = `<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "carol.admin">]>${xml}`;
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    const res = await postRaw(utf16, cookies);
    await expectRejected(harness, res, "SAML_MALFORMED", cookies);
  });

  it("rejects a UTF-16 copy of a valid response", async () => {
    const { cookies, xml } = await signed();
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, "utf16le")]);
    const res = await postRaw(utf16, cookies);
    await expectRejected(harness, res, "SAML_MALFORMED", cookies);
  });

  it("rejects UTF-7 markup", async () => {
    const { cookies, xml } = await signed();
    const text = `<?xml version="1.0" encoding="UTF-7"?>+ADw-+ACE-DOCTYPE r+AD4-${xml}`;
    const res = await postRaw(Buffer.from(text, "utf8"), cookies);
    await expectRejected(harness, res, "SAML_MALFORMED", cookies);
  });

  it("handles a UTF-8 byte order mark without a crash", async () => {
    const { cookies, xml } = await signed();
    const res = await postRaw(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)]),
      cookies,
    );
    expect([303, 400]).toContain(res.status);
    const session = await harness.session(cookies);
    if (res.status === 303) expect(session.body.identity.subject).toBe(ALICE.objectId);
    else expect(session.status).toBe(401);
  });

  it("bounds the time of 5,000 attributes on one element", async () => {
    const { cookies, xml } = await signed();
    const attributes = Array.from({ length: 5_000 }, (_, i) => `a${i}="v"`).join(" ");
    const wide = replaceOnce(
      xml,
      "</samlp:Status>",
      `</samlp:Status><samlp:Extensions><x xmlns="urn:example:wide" ${attributes}/></samlp:Extensions>`,
    );
    const started = Date.now();
    const res = await postRaw(Buffer.from(wide), cookies);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.status).toBeLessThan(500);
  });

  it.each([
    ["base64url alphabet", "PHNhbWxwOlJlc3BvbnNlLz4_-"],
    ["padding in the middle", "PHI+=PC9yPg=="],
    ["percent signs", "%%%%"],
    ["only whitespace", "   \n "],
    ["too much padding", "PHIvPg==="],
  ])("rejects invalid base64: %s", async (_name, value) => {
    const res = await postRaw(value);
    expect(res.status).toBe(400);
    expect(["SAML_MALFORMED", "SAML_MISSING_RESPONSE"]).toContain(res.body.error);
  });

  it.each([
    ["plain text", "hello world"],
    ["JSON", '{"Response":{"NameID":"carol.admin"}}'],
    [
      "an AuthnRequest",
      '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x"/>',
    ],
    ["a Response without namespace", '<Response ID="_x"><Status/></Response>'],
    [
      "two root elements",
      '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/><x/>',
    ],
  ])("rejects %s as malformed", async (_name, text) => {
    const browser = new Browser();
    const res = await postRaw(Buffer.from(text), browser);
    await expectRejected(harness, res, "SAML_MALFORMED", browser);
  });

  it("uses the first of two SAMLResponse fields", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const good = Buffer.from(buildSignedResponse(fields, IDP_KEY)).toString("base64");
    const unsigned = Buffer.from(
      buildResponseXml({ ...fields, nameIdXml: "carol.admin" }, ""),
    ).toString("base64");
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Cookie", cookies.header())
      .set("Accept", "application/json")
      .type("form")
      .send(
        `SAMLResponse=${encodeURIComponent(unsigned)}&SAMLResponse=${encodeURIComponent(good)}`,
      );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect((await harness.session(cookies)).status).toBe(401);
  });

  it("ignores SAMLResponse in the query string", async () => {
    const { cookies, xml } = await signed();
    const encoded = encodeURIComponent(Buffer.from(xml).toString("base64"));
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs?SAMLResponse=${encoded}`)
      .set("Cookie", cookies.header())
      .set("Accept", "application/json")
      .type("form")
      .send("RelayState=x");
    await expectRejected(harness, res, "SAML_MISSING_RESPONSE", cookies);
  });

  it("rejects SAMLResponse sent as JSON", async () => {
    const { cookies, xml } = await signed();
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Cookie", cookies.header())
      .set("Accept", "application/json")
      .send({ SAMLResponse: Buffer.from(xml).toString("base64") });
    await expectRejected(harness, res, "BAD_REQUEST", cookies);
  });
});
