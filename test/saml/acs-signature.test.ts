import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  IDP_KEY,
  UNTRUSTED_KEY,
  SamlHarness,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
  replaceOnce,
  signElement,
} from "../support/saml-harness.js";

describe("ACS signature rules", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  it("rejects an unsigned response", async () => {
    const { requestId, cookies } = await harness.login();
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY, "none"),
      cookies,
    );
    await expectRejected(harness, res, "SAML_SIGNATURE_MISSING", cookies);
  });

  it("rejects a key not configured, even with its cert in KeyInfo", async () => {
    const { requestId, cookies } = await harness.login();
    const xml = buildSignedResponse(harness.fields(requestId), UNTRUSTED_KEY);
    expect(xml).toContain("<X509Certificate>");
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects an attribute changed after signing", async () => {
    const { requestId, cookies } = await harness.login();
    const xml = buildSignedResponse(harness.fields(requestId), IDP_KEY);
    const res = await harness.postResponse(replaceOnce(xml, ">Physician<", ">Admin<"), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects a response signature with the Response changed after signing", async () => {
    const { requestId, cookies } = await harness.login();
    const xml = buildSignedResponse(harness.fields(requestId), IDP_KEY, "response");
    const res = await harness.postResponse(replaceOnce(xml, ">Physician<", ">Admin<"), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects SHA-1 by default", async () => {
    const { requestId, cookies } = await harness.login();
    const xml = buildSignedResponse(harness.fields(requestId), { ...IDP_KEY, algorithm: "sha1" });
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_WEAK_ALGORITHM", cookies);
  });

  it("accepts SHA-1 with allowSha1", async () => {
    const relaxed = await SamlHarness.start({ allowSha1: true });
    try {
      const { requestId, cookies } = await relaxed.login();
      const xml = buildSignedResponse(relaxed.fields(requestId), { ...IDP_KEY, algorithm: "sha1" });
      const res = await relaxed.postResponse(xml, cookies);
      expect(res.status).toBe(303);
      expect((await relaxed.session(cookies)).status).toBe(200);
    } finally {
      await relaxed.close();
    }
  });

  it("rejects a second, unsigned assertion", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signed = signElement(buildAssertionXml(fields), "Assertion", fields.assertionId, IDP_KEY);
    const extra = buildAssertionXml({ ...fields, assertionId: "_extra", nameIdXml: "attacker" });
    const res = await harness.postResponse(buildResponseXml(fields, signed + extra), cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects an EncryptedAssertion next to an Assertion", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signed = signElement(buildAssertionXml(fields), "Assertion", fields.assertionId, IDP_KEY);
    const encrypted = `<EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/>`;
    const res = await harness.postResponse(buildResponseXml(fields, signed + encrypted), cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("reads the whole NameID when a comment was inserted after signing", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.nameIdXml = "admin@x.evil";
    const signed = buildSignedResponse(fields, IDP_KEY);
    // Comments are outside exclusive C14N, so the signature still verifies after this change.
    const injected = replaceOnce(signed, ">admin@x.evil<", ">admin@x<!---->.evil<");
    const res = await harness.postResponse(injected, cookies);
    expect(res.status).toBe(303);
    const session = await harness.session(cookies);
    expect(session.body.identity.subject).toBe("admin@x.evil");
  });
});
