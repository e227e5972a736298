import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  SamlHarness,
  buildAssertionXml,
  buildResponseXml,
  expectRejected,
  replaceOnce,
} from "../support/saml-harness.js";
import { signAssertionWithXmlsec1 } from "../support/saml-xmlsec.js";

describe("ACS with responses signed by xmlsec1", () => {
  let harness: SamlHarness;
  beforeAll(async () => {
    harness = await SamlHarness.start();
  });
  afterAll(async () => {
    await harness.close();
  });

  it("accepts an xmlsec1-signed assertion", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signed = signAssertionWithXmlsec1(buildAssertionXml(fields), fields.assertionId);
    expect(signed).toContain("<ds:SignatureValue>");
    const res = await harness.postResponse(buildResponseXml(fields, signed), cookies);
    expect(res.status).toBe(303);
    expect((await harness.session(cookies)).status).toBe(200);
  });

  it("rejects an xmlsec1-signed assertion changed after signing", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signed = signAssertionWithXmlsec1(buildAssertionXml(fields), fields.assertionId);
    const tampered = replaceOnce(signed, ">Physician<", ">Admin<");
    const res = await harness.postResponse(buildResponseXml(fields, tampered), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });
});
