import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { ENTRA_ATTRIBUTES } from "../../src/demo/saml-response-builder.js";
import {
  Browser,
  IDP_KEY,
  SamlHarness,
  UNTRUSTED_KEY,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  expectRejected,
  replaceOnce,
  signElement,
} from "../support/saml-harness.js";
import { AttackHarness, FIRST, SECOND, expectRejectedAt } from "./attack-harness.js";

// Findings of the first attack review, each fixed; every test sends the attack and asserts the
// safe behaviour.

describe("fixed findings", () => {
  describe("single connection", () => {
    let harness: SamlHarness;
    beforeEach(async () => {
      harness = await SamlHarness.start();
    });
    afterEach(async () => {
      await harness.close();
    });

    it("rejects 10,000 sibling elements before signature work", async () => {
      // No valid signature and no cookie: an empty ds:Signature is enough to reach node-saml,
      // whose XPath lookups grow faster than linearly in the element count.
      const filler = "<a/>".repeat(10_000);
      const xml =
        `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0">` +
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
        `<samlp:Extensions><x xmlns="urn:example:flat">${filler}</x></samlp:Extensions>` +
        buildSignedResponse(harness.fields("_nope"), UNTRUSTED_KEY).replace(
          /^.*?(<Assertion )/,
          "$1",
        );
      const res = await harness.postResponse(xml, new Browser());
      // SAML_MALFORMED comes from the size check; the signature check would return
      // SAML_SIGNATURE_INVALID after seconds of XPath work.
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("SAML_MALFORMED");
    });

    it("rejects 20,000 nested elements before signature work", async () => {
      const depth = 20_000;
      const nested = "<a>".repeat(depth) + "</a>".repeat(depth);
      const xml = replaceOnce(
        buildSignedResponse(harness.fields("_nope"), UNTRUSTED_KEY),
        "</samlp:Status>",
        `</samlp:Status><samlp:Extensions><x xmlns="urn:example:deep">${nested}</x></samlp:Extensions>`,
      );
      const res = await harness.postResponse(xml, new Browser());
      // SAML_MALFORMED comes from the size check; the signature check would return
      // SAML_SIGNATURE_INVALID after seconds of XPath work.
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("SAML_MALFORMED");
    });

    it("rejects a Response whose own signature is invalid", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      const assertion = signElement(
        buildAssertionXml(fields),
        "Assertion",
        fields.assertionId,
        IDP_KEY,
      );
      // The assertion signature is valid; the Response signature is by an untrusted key.
      const xml = signElement(
        buildResponseXml(fields, assertion),
        "Response",
        fields.responseId,
        UNTRUSTED_KEY,
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejected(harness, res, "SAML_SIGNATURE_INVALID", cookies);
    });

    it("rejects an assertion without AuthnStatement", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      const unsignedAssertion = buildAssertionXml(fields).replace(
        /<AuthnStatement[\s\S]*<\/AuthnStatement>/,
        "",
      );
      const assertion = signElement(unsignedAssertion, "Assertion", fields.assertionId, IDP_KEY);
      const res = await harness.postResponse(buildResponseXml(fields, assertion), cookies);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect((await harness.session(cookies)).status).toBe(401);
    });

    it("rejects an unsolicited assertion given an unsigned InResponseTo", async () => {
      // allowIdpInitiated is off. The IdP signed an unsolicited assertion (its bearer data has
      // no InResponseTo); the attacker starts a login and writes that request ID on the
      // unsigned Response element.
      const { requestId, cookies } = await harness.login();
      const unsolicited = harness.fields();
      const signed = buildSignedResponse(unsolicited, IDP_KEY);
      const xml = replaceOnce(
        signed,
        ` ID="${unsolicited.responseId}"`,
        ` ID="${unsolicited.responseId}" InResponseTo="${requestId}"`,
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejected(harness, res, "SAML_UNSOLICITED", cookies);
    });

    it("keeps a comma inside a group name out of the group list", async () => {
      const { requestId, cookies } = await harness.login();
      const fields = harness.fields(requestId);
      fields.attributes = {
        ...fields.attributes,
        [ENTRA_ATTRIBUTES.groups]: ["staff,hospital-admins"],
      };
      expect(
        (await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies)).status,
      ).toBe(303);
      const res = await harness.http().get("/auth").set("Cookie", cookies.header());
      expect(res.status).toBe(200);
      // A proxy splits X-Auth-Request-Groups on commas, so the header must give one group.
      expect(String(res.headers["x-auth-request-groups"]).split(",")).toEqual(
        ["staff,hospital-admins"].map(encodeURIComponent),
      );
    });
  });

  describe("bounded memory store", () => {
    let harness: AttackHarness;
    beforeEach(async () => {
      harness = await AttackHarness.start({
        session: { store: { type: "memory", maxEntries: 200 } },
        connections: { [SECOND]: { allowIdpInitiated: true } },
      });
    });
    afterEach(async () => {
      await harness.close();
    });

    async function anonymousLogins(count: number): Promise<void> {
      for (let i = 0; i < count; i += 1) {
        const res = await harness.http().get(`/saml/${FIRST}/login`);
        expect(res.status).toBe(302);
      }
    }

    it("keeps live sessions when anonymous logins fill the store", async () => {
      const { requestId, cookies } = await harness.login(FIRST);
      const fields = harness.fields(FIRST, requestId);
      expect(
        (await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies)).status,
      ).toBe(303);
      expect((await harness.session(cookies)).status).toBe(200);

      await anonymousLogins(300);
      expect((await harness.session(cookies)).status).toBe(200);
    });

    it("remembers a used unsolicited assertion when logins fill the store", async () => {
      const xml = buildSignedResponse(harness.fields(SECOND), IDP_KEY);
      expect((await harness.postResponse(xml, new Browser(), SECOND)).status).toBe(303);

      await anonymousLogins(300);
      const replayer = new Browser();
      const res = await harness.postResponse(xml, replayer, SECOND);
      await expectRejectedAt(harness, res, "SAML_REPLAYED", replayer);
    });
  });
});
