import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  Browser,
  IDP_KEY,
  SamlHarness,
  buildSignedResponse,
  expectRejected,
} from "../support/saml-harness.js";

describe("ACS InResponseTo, unsolicited and replay rules", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  it("rejects an unknown InResponseTo", async () => {
    const { cookies } = await harness.login();
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields("_never-sent"), IDP_KEY),
      cookies,
    );
    await expectRejected(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", cookies);
  });

  it("rejects a request ID from another browser", async () => {
    const victim = await harness.login();
    const attacker = await harness.login();
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(victim.requestId), IDP_KEY),
      attacker.cookies,
    );
    await expectRejected(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", attacker.cookies);
  });

  it("rejects a request ID without binding cookie", async () => {
    const { requestId } = await harness.login();
    const browser = new Browser();
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      browser,
    );
    await expectRejected(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", browser);
  });

  it("rejects a request ID used twice", async () => {
    const { requestId, cookies } = await harness.login();
    const first = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      cookies,
    );
    expect(first.status).toBe(303);
    const again = await harness.login();
    const second = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      again.cookies,
    );
    await expectRejected(harness, second, "SAML_IN_RESPONSE_TO_UNKNOWN", again.cookies);
  });

  it("rejects a request older than ten minutes", async () => {
    const { requestId, cookies } = await harness.login();
    harness.clock.advance(10 * 60_000);
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      cookies,
    );
    await expectRejected(harness, res, "SAML_IN_RESPONSE_TO_UNKNOWN", cookies);
  });

  it("rejects an unsolicited response by default", async () => {
    const browser = new Browser();
    const res = await harness.postResponse(buildSignedResponse(harness.fields(), IDP_KEY), browser);
    await expectRejected(harness, res, "SAML_UNSOLICITED", browser);
  });

  it("rejects a replayed assertion", async () => {
    const { requestId, cookies } = await harness.login();
    const xml = buildSignedResponse(harness.fields(requestId), IDP_KEY);
    expect((await harness.postResponse(xml, cookies)).status).toBe(303);
    const other = new Browser();
    const res = await harness.postResponse(xml, other);
    await expectRejected(harness, res, "SAML_REPLAYED", other);
  });

  it("counts the failure with its code", async () => {
    const browser = new Browser();
    await harness.postResponse(buildSignedResponse(harness.fields(), IDP_KEY), browser);
    const metrics = await harness.signIn.services.metrics.registry.getSingleMetricAsString(
      "federated_signin_sign_ins_total",
    );
    expect(metrics).toContain('result="failure",code="SAML_UNSOLICITED"} 1');
  });

  describe("with allowIdpInitiated", () => {
    let relaxed: SamlHarness;
    beforeEach(async () => {
      relaxed = await SamlHarness.start({
        allowIdpInitiated: true,
        idpInitiatedReturnTo: "/welcome",
      });
    });
    afterEach(async () => {
      await relaxed.close();
    });

    it("lands on idpInitiatedReturnTo and ignores RelayState", async () => {
      const browser = new Browser();
      const xml = buildSignedResponse(relaxed.fields(), IDP_KEY);
      const res = await relaxed.postResponse(xml, browser, {
        RelayState: "https://evil.example/phish",
      });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe("https://signin.example.org/welcome");
      expect((await relaxed.session(browser)).status).toBe(200);
    });

    it("rejects a replayed unsolicited assertion", async () => {
      const xml = buildSignedResponse(relaxed.fields(), IDP_KEY);
      expect((await relaxed.postResponse(xml, new Browser())).status).toBe(303);
      const second = new Browser();
      const res = await relaxed.postResponse(xml, second);
      await expectRejected(relaxed, res, "SAML_REPLAYED", second);
    });
  });
});
