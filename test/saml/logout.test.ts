import { inflateRawSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { buildRedirectUrl } from "../../src/saml/redirect-binding.js";
import { DEMO_TENANT_ID } from "../../src/demo/saml-idp.js";
import {
  ALICE,
  Browser,
  IDP_ENTITY_ID,
  IDP_KEY,
  IDP_SLO_URL,
  SamlHarness,
  UNTRUSTED_KEY,
  buildSignedResponse,
  signElement,
} from "../support/saml-harness.js";

const SLO_PATH = "/saml/entra/slo";

function idpLogoutRequest(id: string, nameId: string, sessionIndex: string): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="2026-01-15T09:00:00.000Z">` +
    `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer><saml:NameID>${nameId}</saml:NameID>` +
    `<samlp:SessionIndex>${sessionIndex}</samlp:SessionIndex></samlp:LogoutRequest>`
  );
}

function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return `${SLO_PATH}${parsed.search}`;
}

describe("single logout", () => {
  let harness: SamlHarness;
  let browser: Browser;
  let sessionIndex: string;
  beforeEach(async () => {
    harness = await SamlHarness.start();
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    sessionIndex = fields.sessionIndex;
    expect((await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies)).status).toBe(
      303,
    );
    browser = cookies;
  });
  afterEach(async () => {
    await harness.close();
  });

  it("sends a LogoutRequest and accepts Entra's LogoutResponse", async () => {
    const logout = await harness
      .http()
      .post("/logout?idp=1")
      .set("Cookie", browser.header())
      .set("Accept", "application/json");
    const target = new URL(logout.body.redirect as string);
    expect(`${target.origin}${target.pathname}`).toBe(IDP_SLO_URL);
    const request = inflateRawSync(
      Buffer.from(target.searchParams.get("SAMLRequest") ?? "", "base64"),
    ).toString("utf8");
    expect(request).toContain(`>${ALICE.objectId}</saml:NameID>`);
    expect(request).toContain(`<samlp:SessionIndex>${sessionIndex}</samlp:SessionIndex>`);
    const requestId = /\sID="([^"]+)"/.exec(request)?.[1] ?? "";
    expect((await harness.session(browser)).status).toBe(401);

    // Entra's LogoutResponse Issuer is the login.microsoftonline.com form, not sts.windows.net.
    const response =
      `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_lr1" Version="2.0" IssueInstant="2026-01-15T09:00:00.000Z" InResponseTo="${requestId}">` +
      `<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">https://login.microsoftonline.com/${DEMO_TENANT_ID}/</Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>`;
    const url = buildRedirectUrl(
      "https://signin.example.org/saml/entra/slo",
      "SAMLResponse",
      response,
      {},
    );
    const first = await harness.http().get(pathAndQuery(url)).set("Accept", "application/json");
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe("https://signin.example.org/");
    const again = await harness.http().get(pathAndQuery(url)).set("Accept", "application/json");
    expect(again.body.error).toBe("SAML_LOGOUT_INVALID");
  });

  it("ends the session on a signed IdP LogoutRequest", async () => {
    const url = buildRedirectUrl(
      "https://signin.example.org/saml/entra/slo",
      "SAMLRequest",
      idpLogoutRequest("_idp1", ALICE.objectId, sessionIndex),
      {
        relayState: "r1",
        signingKey: IDP_KEY.key,
      },
    );
    const res = await harness.http().get(pathAndQuery(url)).set("Cookie", browser.header());
    browser.store(res.headers["set-cookie"]);
    expect(res.status).toBe(302);
    const answer = new URL(res.headers.location as string);
    expect(`${answer.origin}${answer.pathname}`).toBe(IDP_SLO_URL);
    const xml = inflateRawSync(
      Buffer.from(answer.searchParams.get("SAMLResponse") ?? "", "base64"),
    ).toString("utf8");
    expect(xml).toContain('InResponseTo="_idp1"');
    expect(xml).toContain("urn:oasis:names:tc:SAML:2.0:status:Success");
    expect(answer.searchParams.get("RelayState")).toBe("r1");
    expect((await harness.session(browser)).status).toBe(401);
  });

  it("ends the session on a signed POST LogoutRequest", async () => {
    const signed = signElement(
      idpLogoutRequest("_idp2", ALICE.objectId, sessionIndex),
      "LogoutRequest",
      "_idp2",
      IDP_KEY,
    );
    const res = await harness
      .http()
      .post(SLO_PATH)
      .set("Cookie", browser.header())
      .type("form")
      .send({ SAMLRequest: Buffer.from(signed).toString("base64") });
    browser.store(res.headers["set-cookie"]);
    expect(res.status).toBe(302);
    expect((await harness.session(browser)).status).toBe(401);
  });

  it.each([
    ["unsigned", undefined],
    ["signed by an unknown key", UNTRUSTED_KEY.key],
  ])("rejects a LogoutRequest %s", async (_label, signingKey) => {
    const url = buildRedirectUrl(
      "https://signin.example.org/saml/entra/slo",
      "SAMLRequest",
      idpLogoutRequest("_idp3", ALICE.objectId, sessionIndex),
      {
        ...(signingKey ? { signingKey } : {}),
      },
    );
    const res = await harness
      .http()
      .get(pathAndQuery(url))
      .set("Cookie", browser.header())
      .set("Accept", "application/json");
    browser.store(res.headers["set-cookie"]);
    expect(res.body.error).toBe("SAML_LOGOUT_INVALID");
    expect((await harness.session(browser)).status).toBe(200);
  });

  it("keeps the session when the NameID is another user's", async () => {
    const url = buildRedirectUrl(
      "https://signin.example.org/saml/entra/slo",
      "SAMLRequest",
      idpLogoutRequest("_idp4", "someone-else", sessionIndex),
      {
        signingKey: IDP_KEY.key,
      },
    );
    const res = await harness.http().get(pathAndQuery(url)).set("Cookie", browser.header());
    browser.store(res.headers["set-cookie"]);
    expect(res.status).toBe(302);
    expect((await harness.session(browser)).status).toBe(200);
  });
});
