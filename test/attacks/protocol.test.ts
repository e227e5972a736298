import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { samlInstant } from "../../src/saml/xml.js";
import {
  BASE_URL,
  Browser,
  IDP_ENTITY_ID,
  IDP_KEY,
  buildAssertionXml,
  buildResponseXml,
  buildSignedResponse,
  replaceOnce,
  signElement,
  type ResponseFields,
} from "../support/saml-harness.js";
import {
  AttackHarness,
  FIRST,
  SECOND,
  acsUrlOf,
  expectRejectedAt,
  setCookies,
  spEntityIdOf,
} from "./attack-harness.js";

const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/** Builds a response whose assertion is changed by `change` before the IdP signs it. */
function signedAfter(fields: ResponseFields, change: (assertionXml: string) => string): string {
  const assertion = signElement(
    change(buildAssertionXml(fields)),
    "Assertion",
    fields.assertionId,
    IDP_KEY,
  );
  return buildResponseXml(fields, assertion);
}

describe("ACS protocol tricks", () => {
  let harness: AttackHarness;
  beforeEach(async () => {
    harness = await AttackHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  async function solicited(id: string = FIRST) {
    const { requestId, cookies } = await harness.login(id);
    return { requestId, cookies, fields: harness.fields(id, requestId) };
  }

  describe("across connections", () => {
    it("rejects a request ID of another connection", async () => {
      const { requestId, cookies } = await harness.login(FIRST);
      await harness.login(SECOND, cookies);
      const fields = harness.fields(SECOND, requestId);
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies, SECOND);
      await expectRejectedAt(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", cookies);
    });

    it("rejects an assertion for another connection", async () => {
      const first = await solicited(FIRST);
      const { requestId } = await harness.login(SECOND, first.cookies);
      const fields = { ...first.fields, inResponseTo: requestId };
      const res = await harness.postResponse(
        buildSignedResponse(fields, IDP_KEY),
        first.cookies,
        SECOND,
      );
      // node-saml checks the audience before our Destination check runs.
      await expectRejectedAt(harness, res, "SAML_AUDIENCE_MISMATCH", first.cookies);
    });

    it("rejects another connection's Recipient without Destination", async () => {
      const first = await solicited(FIRST);
      const { requestId } = await harness.login(SECOND, first.cookies);
      const fields = { ...first.fields, inResponseTo: requestId, destination: null };
      const res = await harness.postResponse(
        buildSignedResponse(fields, IDP_KEY),
        first.cookies,
        SECOND,
      );
      await expectRejectedAt(harness, res, "SAML_AUDIENCE_MISMATCH", first.cookies);
    });

    it("rejects a binding cookie renamed to another connection", async () => {
      const first = await harness.login(FIRST);
      const second = await harness.login(SECOND);
      // The browser of the first login presents its signed value under the second cookie name.
      const header = first.cookies.header().replace(/fs_saml_mercy=/g, "fs_saml_county=");
      const fields = harness.fields(SECOND, second.requestId);
      const res = await harness
        .http()
        .post(`/saml/${SECOND}/acs`)
        .set("Cookie", header)
        .set("Accept", "application/json")
        .type("form")
        .send({
          SAMLResponse: Buffer.from(buildSignedResponse(fields, IDP_KEY)).toString("base64"),
        });
      expect(res.body.error).toBe("SAML_IN_RESPONSE_TO_UNKNOWN");
      expect(setCookies(res).some((line) => line.startsWith("fs_session="))).toBe(false);
    });

    it("rejects a binding cookie without its signature", async () => {
      const { requestId, cookies } = await harness.login(FIRST);
      const stripped = cookies.header().replace(/;?\s*fs_saml_mercy\.sig=[^;]*/, "");
      expect(stripped).toContain("fs_saml_mercy=");
      const fields = harness.fields(FIRST, requestId);
      const res = await harness
        .http()
        .post(`/saml/${FIRST}/acs`)
        .set("Cookie", stripped)
        .set("Accept", "application/json")
        .type("form")
        .send({
          SAMLResponse: Buffer.from(buildSignedResponse(fields, IDP_KEY)).toString("base64"),
        });
      expect(res.body.error).toBe("SAML_IN_RESPONSE_TO_UNKNOWN");
    });
  });

  describe("return path", () => {
    it.each([
      "//evil.example/x",
      "/\\evil.example",
      "https://evil.example/",
      "/%2F%2Fevil.example",
      "/%5Cevil.example",
      "/\tevil",
      "%2F%2Fevil.example",
      "/%252F%252Fevil.example",
      "javascript:alert(1)",
      "/@evil.example",
    ])("keeps returnTo %j on this host", async (returnTo) => {
      const browser = new Browser();
      const { requestId } = await harness.login(FIRST, browser, returnTo);
      const fields = harness.fields(FIRST, requestId);
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), browser);
      expect(res.status).toBe(303);
      const location = String(res.headers.location);
      expect(new URL(location).host).toBe("signin.example.org");
      expect(location.slice(BASE_URL.length).startsWith("//")).toBe(false);
    });

    it("ignores RelayState of a solicited response", async () => {
      const { cookies, fields } = await solicited();
      const res = await harness
        .http()
        .post(`/saml/${FIRST}/acs`)
        .set("Cookie", cookies.header())
        .type("form")
        .send({
          SAMLResponse: Buffer.from(buildSignedResponse(fields, IDP_KEY)).toString("base64"),
          RelayState: "https://evil.example/phish",
        });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe(`${BASE_URL}/chart`);
    });
  });

  describe("Destination and Recipient", () => {
    const variants: Array<[string, (url: string) => string]> = [
      ["trailing slash", (url) => `${url}/`],
      ["upper-case host", (url) => url.replace("signin.example.org", "SIGNIN.example.org")],
      ["upper-case path", (url) => url.replace("/acs", "/ACS")],
      ["query string", (url) => `${url}?x=1`],
      ["http scheme", (url) => url.replace("https:", "http:")],
      ["explicit port", (url) => url.replace("example.org", "example.org:443")],
      ["fragment", (url) => `${url}#acs`],
    ];

    it.each(variants)("rejects Destination with %s", async (_name, change) => {
      const { cookies, fields } = await solicited();
      fields.destination = change(acsUrlOf(FIRST));
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_DESTINATION_MISMATCH", cookies);
    });

    it.each(variants)("rejects Recipient with %s", async (_name, change) => {
      const { cookies, fields } = await solicited();
      fields.recipient = change(acsUrlOf(FIRST));
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_RECIPIENT_MISMATCH", cookies);
    });
  });

  describe("Audience and Issuer", () => {
    it.each([
      ["spn: prefix", (id: string) => `spn:${id}`],
      ["#suffix", (id: string) => `${id}#suffix`],
      ["trailing slash", (id: string) => `${id}/`],
      ["upper case", (id: string) => id.toUpperCase()],
      ["empty", () => ""],
    ])("rejects audience with %s", async (_name, change) => {
      const { cookies, fields } = await solicited();
      fields.audience = change(spEntityIdOf(FIRST));
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_AUDIENCE_MISMATCH", cookies);
    });

    it("rejects a second AudienceRestriction for another SP", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) =>
        replaceOnce(
          assertion,
          "</AudienceRestriction>",
          "</AudienceRestriction><AudienceRestriction><Audience>urn:other-sp</Audience></AudienceRestriction>",
        ),
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_AUDIENCE_MISMATCH", cookies);
    });

    it("rejects an assertion without Conditions", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) =>
        assertion.replace(/<Conditions[\s\S]*<\/Conditions>/, ""),
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_AUDIENCE_MISMATCH", cookies);
    });

    it("rejects two Conditions elements", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) => {
        const conditions = /<Conditions[\s\S]*<\/Conditions>/.exec(assertion)?.[0] ?? "";
        return replaceOnce(assertion, conditions, conditions + conditions);
      });
      const res = await harness.postResponse(xml, cookies);
      expect(["SAML_AUDIENCE_MISMATCH", "SAML_MALFORMED"]).toContain(res.body.error);
      expect((await harness.session(cookies)).status).toBe(401);
    });

    it.each([
      ["no trailing slash", IDP_ENTITY_ID.replace(/\/$/, "")],
      ["double trailing slash", `${IDP_ENTITY_ID}/`],
      ["upper-case host", IDP_ENTITY_ID.replace("sts.windows.net", "STS.windows.net")],
      ["http scheme", IDP_ENTITY_ID.replace("https:", "http:")],
      ["login host", IDP_ENTITY_ID.replace("sts.windows.net", "login.microsoftonline.com")],
    ])("rejects assertion Issuer with %s", async (_name, issuer) => {
      const { cookies, fields } = await solicited();
      fields.issuer = issuer;
      fields.responseIssuer = null;
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_ISSUER_MISMATCH", cookies);
    });
  });

  describe("Subject", () => {
    it("rejects a bearer confirmation without NotOnOrAfter", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) =>
        replaceOnce(assertion, ` NotOnOrAfter="${samlInstant(fields.subjectNotOnOrAfter)}"`, ""),
      );
      const res = await harness.postResponse(xml, cookies);
      // node-saml's date parser rejects the missing value before our own Subject check runs.
      expect(res.body.error).toBe("SAML_MALFORMED");
      expect((await harness.session(cookies)).status).toBe(401);
    });

    it("rejects a holder-of-key confirmation only", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) =>
        replaceOnce(assertion, BEARER, "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"),
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_SUBJECT_INVALID", cookies);
    });

    it("rejects a good and a bad bearer confirmation", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) => {
        const confirmation =
          /<SubjectConfirmation [\s\S]*<\/SubjectConfirmation>/.exec(assertion)?.[0] ?? "";
        const bad = confirmation.replace(acsUrlOf(FIRST), "https://evil.example/acs");
        return replaceOnce(assertion, confirmation, confirmation + bad);
      });
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_SUBJECT_INVALID", cookies);
    });

    it("ignores a sender-vouches confirmation with our Recipient", async () => {
      const { cookies, fields } = await solicited();
      fields.recipient = "https://evil.example/acs";
      const xml = signedAfter(fields, (assertion) => {
        const confirmation =
          /<SubjectConfirmation [\s\S]*<\/SubjectConfirmation>/.exec(assertion)?.[0] ?? "";
        const vouching = confirmation
          .replace(BEARER, "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches")
          .replace("https://evil.example/acs", acsUrlOf(FIRST));
        return replaceOnce(assertion, confirmation, vouching + confirmation);
      });
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_RECIPIENT_MISMATCH", cookies);
    });

    it("rejects a bearer confirmation without data", async () => {
      const { cookies, fields } = await solicited();
      const xml = signedAfter(fields, (assertion) =>
        assertion.replace(/<SubjectConfirmationData[^>]*\/>/, ""),
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_RECIPIENT_MISMATCH", cookies);
    });

    it("rejects an empty NameID", async () => {
      const { cookies, fields } = await solicited();
      fields.nameIdXml = "   ";
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_SUBJECT_INVALID", cookies);
    });

    it("rejects Response and assertion answering different requests", async () => {
      const { cookies, fields } = await solicited();
      const { requestId: other } = await harness.login(FIRST, cookies);
      const xml = replaceOnce(
        buildSignedResponse(fields, IDP_KEY),
        `InResponseTo="${fields.inResponseTo}">`,
        `InResponseTo="${other}">`,
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", cookies);
    });
  });

  describe("Status", () => {
    it("rejects a Responder status", async () => {
      const { cookies, fields } = await solicited();
      fields.statusCode = "urn:oasis:names:tc:SAML:2.0:status:Responder";
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      await expectRejectedAt(harness, res, "SAML_STATUS_NOT_SUCCESS", cookies);
    });

    it("rejects a Response without StatusCode", async () => {
      const { cookies, fields } = await solicited();
      const xml = buildSignedResponse(fields, IDP_KEY).replace(
        /<samlp:Status>[\s\S]*<\/samlp:Status>/,
        "",
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_STATUS_NOT_SUCCESS", cookies);
    });

    it("reads the first of two Status elements", async () => {
      const { cookies, fields } = await solicited();
      const failed = `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"/></samlp:Status>`;
      const xml = replaceOnce(
        buildSignedResponse(fields, IDP_KEY),
        "<samlp:Status>",
        `${failed}<samlp:Status>`,
      );
      const res = await harness.postResponse(xml, cookies);
      await expectRejectedAt(harness, res, "SAML_STATUS_NOT_SUCCESS", cookies);
    });

    it("accepts Success with a nested second-level code", async () => {
      // SAML core 3.2.2.2 lets a second-level code refine a top-level one, so the top level decides.
      const { cookies, fields } = await solicited();
      fields.subStatusCode = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
      const res = await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
      expect(res.status).toBe(303);
    });
  });

  describe("time formats", () => {
    function withSubjectEnd(fields: ResponseFields, text: string): string {
      return signedAfter(fields, (assertion) =>
        replaceOnce(
          assertion,
          `NotOnOrAfter="${samlInstant(fields.subjectNotOnOrAfter)}"`,
          `NotOnOrAfter="${text}"`,
        ),
      );
    }

    it.each([
      ["without milliseconds", (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z")],
      ["with nanoseconds", (ms: number) => new Date(ms).toISOString().replace(/Z$/, "000000Z")],
      [
        "with a +01:00 offset",
        (ms: number) => {
          const local = new Date(ms + 3_600_000).toISOString().replace(/Z$/, "");
          return `${local}+01:00`;
        },
      ],
    ])("accepts NotOnOrAfter %s", async (_name, format) => {
      const { cookies, fields } = await solicited();
      const res = await harness.postResponse(
        withSubjectEnd(fields, format(fields.subjectNotOnOrAfter)),
        cookies,
      );
      expect(res.status).toBe(303);
    });

    it("rejects an expired instant written with a later-looking offset", async () => {
      const { cookies, fields } = await solicited();
      // now + 3 h written with a +09:00 offset is now - 6 h in UTC, so it looks later but has expired.
      const expired = new Date(harness.clock.now() + 3 * 3_600_000).toISOString().replace(/Z$/, "");
      const res = await harness.postResponse(withSubjectEnd(fields, `${expired}+09:00`), cookies);
      await expectRejectedAt(harness, res, "SAML_EXPIRED", cookies);
    });

    it.each([
      ["lower-case z", (ms: number) => new Date(ms).toISOString().replace(/Z$/, "z")],
      ["no time zone", (ms: number) => new Date(ms).toISOString().replace(/Z$/, "")],
      ["a space separator", (ms: number) => new Date(ms).toISOString().replace("T", " ")],
      ["a date only", (ms: number) => new Date(ms).toISOString().slice(0, 10)],
      [
        "an impossible month",
        (ms: number) => new Date(ms).toISOString().replace(/-\d{2}-/, "-13-"),
      ],
    ])("rejects NotOnOrAfter with %s", async (_name, format) => {
      const { cookies, fields } = await solicited();
      const res = await harness.postResponse(
        withSubjectEnd(fields, format(fields.subjectNotOnOrAfter)),
        cookies,
      );
      // NOTE: node-saml's date parser rejects some of these first, as SAML_SIGNATURE_INVALID.
      expect(["SAML_MALFORMED", "SAML_SIGNATURE_INVALID"]).toContain(res.body.error);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect((await harness.session(cookies)).status).toBe(401);
    });
  });
});
