import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  ACS_URL,
  IDP_KEY,
  SamlHarness,
  buildSignedResponse,
  expectRejected,
} from "../support/saml-harness.js";

const SKEW_MS = 180_000;

describe("ACS issuer, audience, destination and time rules", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  it("rejects an assertion Issuer of another tenant", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.issuer = "https://sts.windows.net/00000000-0000-4000-8000-00000000e0e0/";
    fields.responseIssuer = null;
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_ISSUER_MISMATCH", cookies);
  });

  it("rejects a Response Issuer of another tenant", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.responseIssuer = "https://sts.windows.net/00000000-0000-4000-8000-00000000e0e0/";
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_ISSUER_MISMATCH", cookies);
  });

  it("rejects an audience of another SP", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.audience = "https://other-app.example.org/saml/metadata";
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_AUDIENCE_MISMATCH", cookies);
    expect(res.body.fix).toContain("https://signin.example.org/saml/entra/metadata");
  });

  it("rejects a Destination of another ACS", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.destination = "https://other-app.example.org/acs";
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_DESTINATION_MISMATCH", cookies);
    expect(res.body.fix).toContain(ACS_URL);
  });

  it("accepts a response without Destination", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.destination = null;
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    expect(res.status).toBe(303);
  });

  it("rejects a Recipient of another ACS", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.recipient = "https://other-app.example.org/acs";
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_RECIPIENT_MISMATCH", cookies);
  });

  it("rejects an expired assertion", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    harness.clock.advance(2 * 3_600_000);
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_EXPIRED", cookies);
  });

  it("rejects an assertion not yet valid", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.notBefore = harness.clock.now() + 10 * 60_000;
    const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    await expectRejected(harness, res, "SAML_NOT_YET_VALID", cookies);
  });

  describe("clock skew boundary", () => {
    it("accepts SubjectConfirmationData 1 ms before NotOnOrAfter + skew", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      harness.clock.current = fields.subjectNotOnOrAfter + SKEW_MS - 1;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      expect(res.status).toBe(303);
    });

    it("rejects SubjectConfirmationData at NotOnOrAfter + skew", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      harness.clock.current = fields.subjectNotOnOrAfter + SKEW_MS;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejected(harness, res, "SAML_EXPIRED", cookies);
    });

    it("accepts Conditions at NotBefore - skew", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      fields.notBefore = harness.clock.now() + SKEW_MS;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      expect(res.status).toBe(303);
    });

    it("rejects Conditions 1 ms before NotBefore - skew", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      fields.notBefore = harness.clock.now() + SKEW_MS + 1;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejected(harness, res, "SAML_NOT_YET_VALID", cookies);
    });

    it("rejects Conditions at NotOnOrAfter + skew", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      fields.notOnOrAfter = harness.clock.now() + 60_000;
      fields.subjectNotOnOrAfter = harness.clock.now() + 10 * 60_000;
      harness.clock.current = fields.notOnOrAfter + SKEW_MS;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejected(harness, res, "SAML_EXPIRED", cookies);
    });
  });
});
