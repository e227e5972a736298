// Runs SAML validation in worker threads. The workers load the compiled dist/ files, so
// `npm run build` must run first (`npm test` does).
import { existsSync } from "node:fs";
import { afterAll, afterEach, describe, expect, it } from "@jest/globals";
import { createApp } from "../../src/http/create-sign-in.js";
import { isSignInError, SignInError } from "../../src/errors.js";
import type { SamlConnection } from "../../src/saml/connection.js";
import { createSignatureVerifier } from "../../src/saml/validate-response.js";
import {
  closeSamlValidationPools,
  compiledWorkerPath,
  createSamlValidationPool,
  inlineSamlValidator,
  samlValidatorFor,
  type SamlResponseValidator,
} from "../../src/saml/worker-pool.js";
import {
  CONNECTION_ID,
  IDP_KEY,
  SamlHarness,
  buildSignedResponse,
  replaceOnce,
  samlConfig,
} from "../support/saml-harness.js";

async function startHarness(samlThreads: number): Promise<SamlHarness> {
  const harness = new SamlHarness();
  const { app, signIn } = await createApp(
    { ...samlConfig(), audit: { sink: "none" as const }, workers: { saml: samlThreads } },
    { clock: harness.clock, ids: harness.ids },
  );
  harness.app = app;
  harness.signIn = signIn;
  return harness;
}

function connectionOf(harness: SamlHarness): SamlConnection {
  return harness.signIn.registry.require<SamlConnection>(CONNECTION_ID, "saml");
}

async function rejectionOf(promise: Promise<unknown>): Promise<SignInError> {
  try {
    await promise;
  } catch (error) {
    if (isSignInError(error)) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

const harnesses: SamlHarness[] = [];
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
});
afterAll(async () => {
  await closeSamlValidationPools();
});

describe("SAML validation worker pool", () => {
  it("finds the compiled worker", () => {
    // Fails until `npm run build` has compiled src/ to dist/.
    expect(existsSync(compiledWorkerPath())).toBe(true);
  });

  it("picks the mode from workers.saml", async () => {
    const inline = await startHarness(0);
    const pooled = await startHarness(1);
    harnesses.push(inline, pooled);
    expect(samlValidatorFor(inline.signIn.services)).toBe(inlineSamlValidator);
    expect(samlValidatorFor(pooled.signIn.services).threads).toBe(1);
  });

  it("signs in like inline mode", async () => {
    const identities = [];
    for (const threads of [0, 1]) {
      const harness = await startHarness(threads);
      harnesses.push(harness);
      const { requestId, cookies } = await harness.login("/chart");
      const res = await harness.postResponse(
        buildSignedResponse(harness.fields(requestId), IDP_KEY),
        cookies,
      );
      expect(res.status).toBe(303);
      const session = await harness.session(cookies);
      expect(session.status).toBe(200);
      identities.push(session.body.identity);
    }
    expect(identities[1]).toEqual(identities[0]);
  });

  it("rejects a tampered response like inline mode", async () => {
    const codes = [];
    for (const threads of [0, 1]) {
      const harness = await startHarness(threads);
      harnesses.push(harness);
      const { requestId, cookies } = await harness.login();
      const signed = buildSignedResponse(harness.fields(requestId), IDP_KEY);
      const tampered = replaceOnce(signed, "Physician", "Administrator");
      const res = await harness.postResponse(tampered, cookies);
      expect(res.status).toBe(401);
      codes.push(res.body.error);
      expect((await harness.session(cookies)).status).toBe(401);
    }
    expect(codes).toEqual(["SAML_SIGNATURE_INVALID", "SAML_SIGNATURE_INVALID"]);
  });

  it("rebuilds every error field", async () => {
    const harness = await startHarness(0);
    harnesses.push(harness);
    const settings = connectionOf(harness).settings;
    const verifier = createSignatureVerifier(settings);
    const fields = harness.fields("_request1");
    const wrongAudience = buildSignedResponse({ ...fields, audience: "urn:other-sp" }, IDP_KEY);
    const samlResponse = Buffer.from(wrongAudience, "utf8").toString("base64");
    const nowMs = harness.clock.now();
    const pool = createSamlValidationPool({ threads: 1 });
    try {
      const fromPool = await rejectionOf(pool.validate(settings, verifier, samlResponse, nowMs));
      const inline = await rejectionOf(
        inlineSamlValidator.validate(settings, verifier, samlResponse, nowMs),
      );
      expect(fromPool).toBeInstanceOf(SignInError);
      expect(fromPool.code).toBe("SAML_AUDIENCE_MISMATCH");
      expect(fromPool.code).toBe(inline.code);
      expect(fromPool.message).toBe(inline.message);
      expect(fromPool.fix).toBe(inline.fix);
      expect(fromPool.status).toBe(inline.status);
      expect(fromPool.connection).toBe(inline.connection);
      expect(fromPool.logDetails).toEqual(inline.logDetails);
      expect(fromPool.providerMessage).toBe(inline.providerMessage);
    } finally {
      await pool.close();
    }
  });

  it("serves /auth while ACS validations are pending", async () => {
    const harness = await startHarness(1);
    harnesses.push(harness);
    const validator: SamlResponseValidator = samlValidatorFor(harness.signIn.services);
    const first = await harness.login();
    await harness.postResponse(
      buildSignedResponse(harness.fields(first.requestId), IDP_KEY),
      first.cookies,
    );
    const prepared = [];
    for (let i = 0; i < 24; i += 1) {
      const { requestId, cookies } = await harness.login();
      prepared.push({ xml: buildSignedResponse(harness.fields(requestId), IDP_KEY), cookies });
    }

    const burst = Promise.all(
      prepared.map(({ xml, cookies }) => harness.postResponse(xml, cookies)),
    );
    let authWhilePending = 0;
    const authStatuses = new Set<number>();
    // Relation, not a time limit: count /auth replies that complete while the worker thread
    // still has ACS validations queued or running.
    while (true) {
      const auth = await harness.http().get("/auth").set("Cookie", first.cookies.header());
      authStatuses.add(auth.status);
      if (validator.pending === 0) break;
      authWhilePending += 1;
    }
    const results = await burst;

    expect([...authStatuses]).toEqual([200]);
    expect(authWhilePending).toBeGreaterThanOrEqual(3);
    expect(results.map((res) => res.status)).toEqual(prepared.map(() => 303));
  });
});
