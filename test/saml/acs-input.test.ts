import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  Browser,
  CONNECTION_ID,
  IDP_KEY,
  SamlHarness,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
} from "../support/saml-harness.js";

describe("ACS input handling", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  it("rejects a DOCTYPE with an entity", async () => {
    const { requestId, cookies } = await harness.login();
    const signed = buildSignedResponse(harness.fields(requestId), IDP_KEY);
    const xml = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "admin">]>${signed}`;
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_DTD_FORBIDDEN", cookies);
  });

  it("rejects an external entity declaration", async () => {
    const browser = new Browser();
    const xml = `<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>`;
    const res = await harness.postResponse(xml, browser);
    await expectRejected(harness, res, "SAML_DTD_FORBIDDEN", browser);
  });

  it("rejects a body over maxResponseSize", async () => {
    const small = await SamlHarness.start({ maxResponseSize: 4096 });
    try {
      const { requestId, cookies } = await small.login();
      const fields = small.fields(requestId);
      fields.attributes = { ...fields.attributes, padding: "x".repeat(8000) };
      const res = await small.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejected(small, res, "BODY_TOO_LARGE", cookies);
    } finally {
      await small.close();
    }
  });

  it("rejects a form without SAMLResponse", async () => {
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Accept", "application/json")
      .type("form")
      .send({ RelayState: "x" });
    await expectRejected(harness, res, "SAML_MISSING_RESPONSE", new Browser());
  });

  it("rejects text that is not base64", async () => {
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .set("Accept", "application/json")
      .type("form")
      .send({ SAMLResponse: "<not base64>" });
    await expectRejected(harness, res, "SAML_MALFORMED", new Browser());
  });

  it("shows the AADSTS status and its fix", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.statusCode = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    fields.subStatusCode = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
    fields.statusMessage =
      "AADSTS50105: Your administrator has configured the application to block users unless they are specifically granted access.";
    const res = await harness.postResponse(buildResponseXml(fields, undefined), cookies);
    await expectRejected(harness, res, "SAML_STATUS_NOT_SUCCESS", cookies);
    expect(res.body.providerMessage).toContain("Requester / RequestDenied");
    expect(res.body.providerMessage).toContain("AADSTS50105");
    expect(res.body.fix).toContain("Users and groups");
  });

  it("builds the reply URL fix for AADSTS50011", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.statusCode = "urn:oasis:names:tc:SAML:2.0:status:Requester";
    fields.statusMessage = "AADSTS50011: The reply URL specified in the request does not match.";
    const res = await harness.postResponse(buildResponseXml(fields, undefined), cookies);
    await expectRejected(harness, res, "SAML_STATUS_NOT_SUCCESS", cookies);
    expect(res.body.fix).toContain("https://signin.example.org/saml/entra/acs");
  });

  it("renders the error as an HTML page for browsers", async () => {
    const browser = new Browser();
    const res = await harness
      .http()
      .post(`/saml/${CONNECTION_ID}/acs`)
      .type("form")
      .send({
        SAMLResponse: Buffer.from(buildSignedResponse(harness.fields(), IDP_KEY)).toString(
          "base64",
        ),
      });
    expect(res.status).toBe(401);
    expect(res.text).toContain("SAML_UNSOLICITED");
    expect((await harness.session(browser)).status).toBe(401);
  });

  it.each([
    ["//evil.example", "/"],
    ["https://evil.example/", "/"],
    ["/\\evil.example", "/"],
    ["/records?id=1", "/records?id=1"],
  ])("returnTo %s lands on %s", async (returnTo, landing) => {
    const { requestId, cookies } = await harness.login(returnTo);
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      cookies,
    );
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`https://signin.example.org${landing}`);
  });
});
