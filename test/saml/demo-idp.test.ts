import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { createDemoSamlIdp, DEMO_TENANT_ID } from "../../src/demo/saml-idp.js";
import { parseIdpMetadata } from "../../src/saml/idp-metadata.js";
import { ACS_URL, SP_ENTITY_ID, SamlHarness } from "../support/saml-harness.js";

describe("development SAML IdP", () => {
  let harness: SamlHarness;
  let idp: ReturnType<typeof createDemoSamlIdp>;
  beforeAll(async () => {
    harness = await SamlHarness.start();
    idp = createDemoSamlIdp({
      idpBaseUrl: "https://idp.example.test",
      spEntityId: SP_ENTITY_ID,
      acsUrl: ACS_URL,
      clock: harness.clock,
      ids: harness.ids,
    });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("publishes metadata our parser reads", () => {
    const metadata = parseIdpMetadata(idp.metadataXml);
    expect(metadata.entityId).toBe(`https://sts.windows.net/${DEMO_TENANT_ID}/`);
    expect(metadata.ssoRedirectUrl).toBe("https://idp.example.test/saml2");
  });

  it("signs Bob in through the SP-initiated flow", async () => {
    const { location, cookies } = await harness.login("/ward");
    const picker = await request(idp.app.callback()).get(`/saml2${location.search}`);
    expect(picker.status).toBe(200);
    expect(picker.text).toContain("Development identity provider");
    expect(picker.text).toContain("Bob Patel, Nursing");
    const requestId = /name="inResponseTo" value="([^"]+)"/.exec(picker.text)?.[1] ?? "";
    const posted = await request(idp.app.callback())
      .post("/saml2/choose")
      .type("form")
      .send({ user: "bob", inResponseTo: requestId, relayState: "" });
    expect(posted.text).toContain("Development identity provider");
    expect(posted.text).toContain("<noscript>");
    const samlResponse = /name="SAMLResponse" value="([^"]+)"/.exec(posted.text)?.[1] ?? "";
    const xml = Buffer.from(samlResponse, "base64").toString("utf8");
    const res = await harness.postResponse(xml, cookies);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("https://signin.example.org/ward");
    const session = await harness.session(cookies);
    expect(session.body.identity.name).toBe("Bob Patel");
    expect(session.body.identity.roles).toEqual(["Nurse"]);
  });

  it("refuses AuthnRequests of another SP", async () => {
    const other = createDemoSamlIdp({
      idpBaseUrl: "https://idp.example.test",
      spEntityId: "https://other.example/metadata",
      acsUrl: ACS_URL,
    });
    const { location } = await harness.login();
    const res = await request(other.app.callback()).get(`/saml2${location.search}`);
    expect(res.status).toBe(400);
  });
});
