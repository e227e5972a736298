import { afterEach, beforeEach, describe, it } from "@jest/globals";
import {
  IDP_KEY,
  SamlHarness,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
  replaceOnce,
  signElement,
} from "../support/saml-harness.js";

// Signature-wrapping (XSW) attacks: a validly signed element stays in the message so its
// signature verifies, while an unsigned, attacker-written assertion sits where a careless
// reader looks for the user.
describe("ACS rejects signature wrapping", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function signedParts() {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signedAssertion = signElement(
      buildAssertionXml(fields),
      "Assertion",
      fields.assertionId,
      IDP_KEY,
    );
    const evilAssertion = buildAssertionXml({
      ...fields,
      assertionId: "_evil",
      nameIdXml: "carol.admin",
    });
    return { fields, cookies, signedAssertion, evilAssertion };
  }

  it("rejects signed assertion wrapped in Extensions", async () => {
    const { fields, cookies, signedAssertion, evilAssertion } = await signedParts();
    const wrapped = `<samlp:Extensions>${signedAssertion}</samlp:Extensions>${evilAssertion}`;
    const xml = buildResponseXml(fields, "").replace(
      "</samlp:Status>",
      `</samlp:Status>${wrapped}`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects evil unsigned assertion before the signed one", async () => {
    const { fields, cookies, signedAssertion, evilAssertion } = await signedParts();
    const res = await harness.postResponse(
      buildResponseXml(fields, evilAssertion + signedAssertion),
      cookies,
    );
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects evil assertion inside the signature's Object", async () => {
    const { fields, cookies, signedAssertion, evilAssertion } = await signedParts();
    const withObject = replaceOnce(
      signedAssertion,
      "</Signature>",
      `<Object>${evilAssertion}</Object></Signature>`,
    );
    const res = await harness.postResponse(buildResponseXml(fields, withObject), cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects evil assertion with the signed assertion's ID", async () => {
    const { fields, cookies, signedAssertion } = await signedParts();
    const sameId = buildAssertionXml({ ...fields, nameIdXml: "carol.admin" });
    const wrapped = `<samlp:Extensions>${signedAssertion}</samlp:Extensions>${sameId}`;
    const xml = buildResponseXml(fields, "").replace(
      "</samlp:Status>",
      `</samlp:Status>${wrapped}`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects signed Response wrapped inside an evil Response", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signedResponse = buildSignedResponse(fields, IDP_KEY, "response");
    const evil = buildResponseXml(
      { ...fields, responseId: "_evilResponse" },
      buildAssertionXml({ ...fields, assertionId: "_evil", nameIdXml: "carol.admin" }),
    );
    const xml = replaceOnce(
      evil,
      "</samlp:Status>",
      `</samlp:Status><samlp:Extensions>${signedResponse}</samlp:Extensions>`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects signature moved from the assertion to an evil one", async () => {
    const { fields, cookies, signedAssertion } = await signedParts();
    // Keep the signed assertion's Signature (which references #assertionId) but put it into
    // an evil assertion with the same ID and a different user.
    const signature = /<Signature[\s\S]*<\/Signature>/.exec(signedAssertion)?.[0] ?? "";
    const evil = replaceOnce(
      buildAssertionXml({ ...fields, nameIdXml: "carol.admin" }),
      /(<Issuer>[^<]*<\/Issuer>)/,
      `$1${signature}`,
    );
    const res = await harness.postResponse(buildResponseXml(fields, evil), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects a Reference to an element other than its parent", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    // Sign the Response, then move that signature into an unsigned evil assertion.
    const signedResponse = buildSignedResponse(fields, IDP_KEY, "none");
    const responseSigned = signElement(signedResponse, "Response", fields.responseId, IDP_KEY);
    const signature = /<Signature[\s\S]*<\/Signature>/.exec(responseSigned)?.[0] ?? "";
    const withoutResponseSignature = responseSigned.replace(signature, "");
    const moved = replaceOnce(
      withoutResponseSignature,
      /(<Assertion[^>]*><Issuer>[^<]*<\/Issuer>)/,
      `$1${signature}`,
    );
    const res = await harness.postResponse(moved, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });
});
