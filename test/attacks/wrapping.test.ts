import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  IDP_KEY,
  SamlHarness,
  UNTRUSTED_KEY,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
  replaceOnce,
  signElement,
  type ResponseFields,
} from "../support/saml-harness.js";
import { signCustom } from "./attack-harness.js";

// Signature-wrapping variants beyond test/saml/acs-wrapping.test.ts. Each test keeps a validly
// signed element in the message and puts an attacker-written assertion (NameID carol.admin)
// where a careless reader would take the user from.
describe("ACS rejects further signature wrapping", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function parts() {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    const signedAssertion = signElement(
      buildAssertionXml(fields),
      "Assertion",
      fields.assertionId,
      IDP_KEY,
    );
    const evilFields: ResponseFields = {
      ...fields,
      assertionId: "_evil",
      nameIdXml: "carol.admin",
    };
    return { fields, cookies, signedAssertion, evilAssertion: buildAssertionXml(evilFields) };
  }

  function afterStatus(fields: ResponseFields, inserted: string, assertion = ""): string {
    return replaceOnce(
      buildResponseXml(fields, assertion),
      "</samlp:Status>",
      `</samlp:Status>${inserted}`,
    );
  }

  it("rejects signed assertion in a Response-level ds:Object", async () => {
    const { fields, cookies, signedAssertion, evilAssertion } = await parts();
    const object = `<ds:Object xmlns:ds="http://www.w3.org/2000/09/xmldsig#">${signedAssertion}</ds:Object>`;
    const res = await harness.postResponse(afterStatus(fields, object, evilAssertion), cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects signed assertion alone inside Extensions", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const xml = afterStatus(fields, `<samlp:Extensions>${signedAssertion}</samlp:Extensions>`);
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects a duplicate ID carried by an Id attribute", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const decoy = `<samlp:Extensions><x Id="${fields.assertionId}" xmlns="urn:example:decoy"/></samlp:Extensions>`;
    const res = await harness.postResponse(afterStatus(fields, decoy, signedAssertion), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects a duplicate ID carried by wsu:Id", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const wsu =
      "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    const decoy = `<samlp:Extensions><x xmlns="urn:example:decoy" xmlns:wsu="${wsu}" wsu:Id="${fields.assertionId}"/></samlp:Extensions>`;
    const res = await harness.postResponse(afterStatus(fields, decoy, signedAssertion), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it.each(["Id", "id"])("rejects evil assertion identified by %s", async (idName) => {
    const { fields, cookies, signedAssertion } = await parts();
    // The evil assertion takes the real signature and names itself with another ID spelling,
    // so a lookup by any spelling of "ID" would find it as the signed element.
    const signature = /<Signature[\s\S]*<\/Signature>/.exec(signedAssertion)?.[0] ?? "";
    const evil = replaceOnce(
      buildAssertionXml({ ...fields, nameIdXml: "carol.admin" }),
      ` ID="${fields.assertionId}"`,
      ` ${idName}="${fields.assertionId}"`,
    ).replace("</Issuer>", `</Issuer>${signature}`);
    const res = await harness.postResponse(buildResponseXml(fields, evil), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects an assertion signature with Reference URI empty", async () => {
    const { fields, cookies } = await parts();
    const assertion = signCustom(buildAssertionXml(fields), {
      referenceXpaths: ["/*"],
      locationXpath: "/*/*[local-name(.)='Issuer']",
      emptyUri: true,
      signing: IDP_KEY,
    });
    expect(assertion).toContain('URI=""');
    const res = await harness.postResponse(buildResponseXml(fields, assertion), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects a Response signature with Reference URI empty", async () => {
    const { fields, cookies, evilAssertion } = await parts();
    const xml = signCustom(buildResponseXml(fields, evilAssertion), {
      referenceXpaths: ["/*"],
      locationXpath: "/*/*[local-name(.)='Issuer']",
      emptyUri: true,
      signing: IDP_KEY,
    });
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects an assertion signature whose Reference is the Response", async () => {
    const { fields, cookies } = await parts();
    // The signature sits in the assertion but covers its ancestor, the whole Response.
    const xml = signCustom(buildResponseXml(fields, buildAssertionXml(fields)), {
      referenceXpaths: [`//*[@ID='${fields.responseId}']`],
      locationXpath: "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']",
      signing: IDP_KEY,
    });
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects two References in one SignedInfo", async () => {
    const { fields, cookies } = await parts();
    const xml = signCustom(buildResponseXml(fields, buildAssertionXml(fields)), {
      referenceXpaths: [`//*[@ID='${fields.assertionId}']`, `//*[@ID='${fields.responseId}']`],
      locationXpath: "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']",
      signing: IDP_KEY,
    });
    expect(xml.match(/<Reference /g)?.length).toBe(2);
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects two signatures on one assertion", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const twice = signElement(signedAssertion, "Assertion", fields.assertionId, UNTRUSTED_KEY);
    const res = await harness.postResponse(buildResponseXml(fields, twice), cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects evil assertion in a signed Response's Object", async () => {
    const { fields, cookies, evilAssertion } = await parts();
    const signed = buildSignedResponse(fields, IDP_KEY, "response");
    // The enveloped-signature transform drops the whole Signature, so its Object is unsigned.
    const xml = replaceOnce(
      signed,
      "</Signature>",
      `<Object>${evilAssertion}</Object></Signature>`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects evil assertion in the Object of an assertion-less signed Response", async () => {
    const { fields, cookies, evilAssertion } = await parts();
    const signed = signElement(
      buildResponseXml(fields, ""),
      "Response",
      fields.responseId,
      IDP_KEY,
    );
    const xml = replaceOnce(
      signed,
      "</Signature>",
      `<Object>${evilAssertion}</Object></Signature>`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects unsigned assertion appended to a signed assertion-less Response", async () => {
    const { fields, cookies, evilAssertion } = await parts();
    const signed = signElement(
      buildResponseXml(fields, ""),
      "Response",
      fields.responseId,
      IDP_KEY,
    );
    const xml = replaceOnce(signed, "</samlp:Response>", `${evilAssertion}</samlp:Response>`);
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
  });

  it("rejects evil assertion holding the signed one in Advice", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const evil = buildAssertionXml({ ...fields, assertionId: "_evil", nameIdXml: "carol.admin" });
    const wrapped = replaceOnce(
      evil,
      "<AuthnStatement",
      `<Advice>${signedAssertion}</Advice><AuthnStatement`,
    );
    const res = await harness.postResponse(buildResponseXml(fields, wrapped), cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects evil Assertion in a foreign namespace next to a wrapped signed one", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    // Matching by local name alone would take x:Assertion as the Response's assertion.
    const foreign = `<x:Assertion xmlns:x="urn:example:evil" ID="_foreign"><x:NameID>carol.admin</x:NameID></x:Assertion>`;
    const xml = afterStatus(
      fields,
      `<samlp:Extensions>${signedAssertion}</samlp:Extensions>${foreign}`,
    );
    const res = await harness.postResponse(xml, cookies);
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });

  it("rejects a no-namespace Assertion next to the signed one", async () => {
    const { fields, cookies, signedAssertion } = await parts();
    const bare = `<Assertion xmlns="" ID="_bare"><NameID>carol.admin</NameID></Assertion>`;
    const res = await harness.postResponse(
      buildResponseXml(fields, bare + signedAssertion),
      cookies,
    );
    await expectRejected(harness, res, "SAML_ASSERTION_COUNT", cookies);
  });
});
