import { expect } from "@jest/globals";
import { MemorySink } from "../../src/audit/audit.js";
import { createApp } from "../../src/http/create-sign-in.js";
import { buildRedirectUrl } from "../../src/saml/redirect-binding.js";
import { RedisStore } from "../../src/session/redis-store.js";
import {
  MAIN_REDIS_URL,
  captureLog,
  deleteKeysWithPrefix,
  randomPrefix,
  type CapturedLog,
} from "../session/helpers.js";
import {
  ALICE,
  Browser,
  CountingIds,
  IDP_ENTITY_ID,
  IDP_KEY,
  SamlHarness,
  buildSignedResponse,
  samlConfig,
  signElement,
} from "../support/saml-harness.js";

/** Path of the SAML single logout endpoint of the test connection. */
export const SLO_PATH = "/saml/entra/slo";

/**
 * Two service instances, each with its own Redis connection, sharing one key prefix: what two
 * replicas behind a load balancer see. `a` and `b` are SAML harnesses whose apps are these
 * instances. Both use `a.clock` and one ID generator, so session keys and message IDs differ.
 */
export interface TwoSamlInstances {
  a: SamlHarness;
  b: SamlHarness;
  logA: CapturedLog;
  logB: CapturedLog;
  prefix: string;
  close(): Promise<void>;
}

export async function startTwoSamlInstances(
  connection: Record<string, unknown> = {},
): Promise<TwoSamlInstances> {
  const prefix = randomPrefix();
  const ids = new CountingIds();
  const a = new SamlHarness();
  const b = new SamlHarness();
  const logA = captureLog();
  const logB = captureLog();
  for (const [harness, log] of [
    [a, logA],
    [b, logB],
  ] as const) {
    const { app, signIn } = await createApp(samlConfig(connection), {
      clock: a.clock,
      ids,
      logger: log.logger,
      auditSink: harness.audit,
      store: new RedisStore({ url: MAIN_REDIS_URL, prefix }),
    });
    harness.app = app;
    harness.signIn = signIn;
  }
  return {
    a,
    b,
    logA,
    logB,
    prefix,
    async close() {
      await a.close();
      await b.close();
      await deleteKeysWithPrefix(MAIN_REDIS_URL, prefix);
    },
  };
}

/**
 * Signs Alice in at `at` as a new browser. Response and assertion IDs come from `fields`, so
 * they stay unique across instances. Returns the browser and the session's SessionIndex.
 */
export async function samlSignIn(
  at: SamlHarness,
  fields: SamlHarness,
): Promise<{ browser: Browser; sessionIndex: string }> {
  const { requestId, cookies } = await at.login();
  const responseFields = fields.fields(requestId);
  const res = await at.postResponse(buildSignedResponse(responseFields, IDP_KEY), cookies);
  expect(res.status).toBe(303);
  expect((await at.session(cookies)).status).toBe(200);
  return { browser: cookies, sessionIndex: responseFields.sessionIndex };
}

/** Builds an IdP LogoutRequest for `nameId`, optionally narrowed to some SessionIndex values. */
export function idpLogoutRequestXml(
  id: string,
  nameId: string,
  issueInstant: string,
  sessionIndexes: string[] = [],
): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${issueInstant}">` +
    `<saml:Issuer>${IDP_ENTITY_ID}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${nameId}</saml:NameID>` +
    sessionIndexes.map((index) => `<samlp:SessionIndex>${index}</samlp:SessionIndex>`).join("") +
    `</samlp:LogoutRequest>`
  );
}

/** Returns the SLO path and query of a LogoutRequest signed by the IdP (HTTP-Redirect binding). */
export function signedRedirectLogout(xml: string): string {
  const url = buildRedirectUrl(`https://signin.example.org${SLO_PATH}`, "SAMLRequest", xml, {
    signingKey: IDP_KEY.key,
  });
  return `${SLO_PATH}${new URL(url).search}`;
}

/** Returns the SAMLRequest form value of a LogoutRequest signed by the IdP (HTTP-POST binding). */
export function signedPostLogout(xml: string, id: string): string {
  return Buffer.from(signElement(xml, "LogoutRequest", id, IDP_KEY)).toString("base64");
}

export { ALICE, Browser, MemorySink };
