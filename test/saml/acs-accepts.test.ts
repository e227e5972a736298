import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import {
  ALICE,
  Browser,
  CONNECTION_ID,
  IDP_KEY,
  SamlHarness,
  buildSignedResponse,
} from "../support/saml-harness.js";
import { DEMO_TENANT_ID } from "../../src/demo/saml-idp.js";

describe("ACS accepts valid Entra responses", () => {
  let harness: SamlHarness;
  beforeEach(async () => {
    harness = await SamlHarness.start();
  });
  afterEach(async () => {
    await harness.close();
  });

  it("signs in with an assertion-signed response", async () => {
    const { requestId, cookies } = await harness.login("/chart?patient=7");
    const res = await harness.postResponse(
      buildSignedResponse(harness.fields(requestId), IDP_KEY),
      cookies,
    );
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("https://signin.example.org/chart?patient=7");
    const audit = harness.audit.events();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.event).toBe("sign_in_succeeded");
    expect(audit[0]?.user).toBe(`entra:${DEMO_TENANT_ID}:${ALICE.objectId}`);

    const session = await harness.session(cookies);
    expect(session.status).toBe(200);
    const identity = session.body.identity;
    expect(identity.id).toBe(`entra:${DEMO_TENANT_ID}:${ALICE.objectId}`);
    expect(identity.connection).toBe(CONNECTION_ID);
    expect(identity.protocol).toBe("saml");
    expect(identity.subject).toBe(ALICE.objectId);
    expect(identity.email).toBe(ALICE.upn);
    expect(identity.groups).toEqual(ALICE.groups);
    expect(identity.roles).toEqual(ALICE.roles);
    expect(identity.authMethods).toContain("urn:oasis:names:tc:SAML:2.0:ac:classes:Password");
  });

  it.each(["response", "both"] as const)(
    "signs in with signature placement %s",
    async (placement) => {
      const { requestId, cookies } = await harness.login();
      const res = await harness.postResponse(
        buildSignedResponse(harness.fields(requestId), IDP_KEY, placement),
        cookies,
      );
      expect(res.status).toBe(303);
      expect((await harness.session(cookies)).status).toBe(200);
    },
  );

  it("counts the success in the sign-in metric", async () => {
    const { requestId, cookies } = await harness.login();
    await harness.postResponse(buildSignedResponse(harness.fields(requestId), IDP_KEY), cookies);
    const metrics = await harness.signIn.services.metrics.registry.getSingleMetricAsString(
      "federated_signin_sign_ins_total",
    );
    expect(metrics).toContain('connection="entra",protocol="saml",result="success",code=""} 1');
  });

  it("clears the binding cookie after sign-in", async () => {
    const { requestId, cookies } = await harness.login();
    expect(cookies.has(`fs_saml_${CONNECTION_ID}`)).toBe(true);
    await harness.postResponse(buildSignedResponse(harness.fields(requestId), IDP_KEY), cookies);
    expect(cookies.has(`fs_saml_${CONNECTION_ID}`)).toBe(false);
  });

  it("keeps SessionNotOnOrAfter as the session limit", async () => {
    const { requestId, cookies } = await harness.login();
    const fields = harness.fields(requestId);
    fields.sessionNotOnOrAfter = harness.clock.now() + 30 * 60_000;
    await harness.postResponse(buildSignedResponse(fields, IDP_KEY), cookies);
    const session = await harness.session(cookies);
    expect(session.body.expiresAt).toBe(new Date(fields.sessionNotOnOrAfter).toISOString());
  });

  it("sets no session for a fresh browser", async () => {
    expect((await harness.session(new Browser())).status).toBe(401);
  });
});
