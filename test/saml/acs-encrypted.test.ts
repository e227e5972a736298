import { afterEach, describe, expect, it } from "@jest/globals";
import {
  IDP_KEY,
  SamlHarness,
  buildAssertionXml,
  buildResponseXml,
  certFile,
  encryptAssertion,
  expectRejected,
  signElement,
} from "../support/saml-harness.js";

const DECRYPTION = {
  sp: {
    decryptionKey: "certs/test-sp-encryption.key",
    decryptionCert: "certs/test-sp-encryption.crt",
  },
};

describe("ACS with encrypted assertions", () => {
  let harness: SamlHarness | undefined;
  afterEach(async () => {
    await harness?.close();
  });

  async function encryptedResponse(h: SamlHarness, requestId: string): Promise<string> {
    const fields = h.fields(requestId);
    const signed = signElement(buildAssertionXml(fields), "Assertion", fields.assertionId, IDP_KEY);
    return buildResponseXml(
      fields,
      await encryptAssertion(signed, certFile("test-sp-encryption.crt")),
    );
  }

  it("accepts an encrypted assertion with the decryption key", async () => {
    harness = await SamlHarness.start(DECRYPTION);
    const { requestId, cookies } = await harness.login();
    const res = await harness.postResponse(await encryptedResponse(harness, requestId), cookies);
    expect(res.status).toBe(303);
    expect((await harness.session(cookies)).body.identity.email).toBe(
      "alice.nguyen@demo-health.example",
    );
  });

  it("rejects an encrypted assertion without a decryption key", async () => {
    harness = await SamlHarness.start();
    const { requestId, cookies } = await harness.login();
    const res = await harness.postResponse(await encryptedResponse(harness, requestId), cookies);
    await expectRejected(harness, res, "SAML_DECRYPTION_FAILED", cookies);
  });

  it("rejects an assertion encrypted to another key", async () => {
    harness = await SamlHarness.start(DECRYPTION);
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signed = signElement(buildAssertionXml(fields), "Assertion", fields.assertionId, IDP_KEY);
    const xml = buildResponseXml(
      fields,
      await encryptAssertion(signed, certFile("test-sp-signing.crt")),
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_DECRYPTION_FAILED", cookies);
  });

  it("rejects an encrypted assertion that is not signed", async () => {
    harness = await SamlHarness.start(DECRYPTION);
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const xml = buildResponseXml(
      fields,
      await encryptAssertion(buildAssertionXml(fields), certFile("test-sp-encryption.crt")),
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_MISSING", cookies);
  });
});
