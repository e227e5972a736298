import { X509Certificate } from "node:crypto";
import { afterEach, describe, expect, it } from "@jest/globals";
import { DOMParser } from "@xmldom/xmldom";
import {
  CONNECTION_ID,
  IDP_ENTITY_ID,
  IDP_SSO_URL,
  certFile,
  type SamlHarness,
} from "../support/saml-harness.js";
import type { SamlConnection } from "../../src/saml/connection.js";
import {
  DocumentServer,
  LogCapture,
  idpMetadataXml,
  startHarness,
  temporaryFolder,
} from "./support.js";

const DAY_MS = 86_400_000;
const MD = "urn:oasis:names:tc:SAML:2.0:metadata";
const IDP_NOT_AFTER = Date.parse(new X509Certificate(certFile("demo-idp-signing.crt")).validTo);
const SP_KEYS = {
  signingKey: "certs/test-sp-signing.key",
  signingCert: "certs/test-sp-signing.crt",
  nextSigningCert: "certs/test-untrusted-signing.crt",
  decryptionKey: "certs/test-sp-encryption.key",
  decryptionCert: "certs/test-sp-encryption.crt",
};
const MANUAL_IDP = {
  entityId: IDP_ENTITY_ID,
  ssoUrl: IDP_SSO_URL,
  certificates: ["certs/demo-idp-signing.crt"],
};

let harness: SamlHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function gaugeValues(current: SamlHarness): Promise<Record<string, number>> {
  const metric = await current.signIn.services.metrics.certificateExpiryDays.get();
  return Object.fromEntries(
    metric.values
      .filter((entry) => entry.labels.connection === CONNECTION_ID)
      .map((entry) => [String(entry.labels.role), entry.value]),
  );
}

describe("certificate expiry gauge", () => {
  it("counts whole days down with the clock", async () => {
    const start = IDP_NOT_AFTER - 10 * DAY_MS - 3_600_000;
    ({ harness } = await startHarness(MANUAL_IDP, new LogCapture(), { sp: SP_KEYS }, start));
    const atStart = await gaugeValues(harness);
    expect(atStart["idp-signing"]).toBe(10);
    for (const role of ["sp-signing", "sp-signing-next", "sp-encryption"]) {
      expect(atStart[role]).toBeGreaterThanOrEqual(9);
      expect(atStart[role]).toBeLessThanOrEqual(11);
    }

    harness.clock.advance(5 * DAY_MS);
    expect((await gaugeValues(harness))["idp-signing"]).toBe(5);

    harness.clock.advance(6 * DAY_MS);
    expect((await gaugeValues(harness))["idp-signing"]).toBe(-1);
  });

  it("appears in the Prometheus text", async () => {
    ({ harness } = await startHarness(MANUAL_IDP));
    const text = await harness.signIn.services.metrics.registry.metrics();
    expect(text).toMatch(
      /federated_signin_certificate_expiry_days\{connection="entra",role="idp-signing"\} \d+/,
    );
  });

  it("is removed when the connection closes", async () => {
    ({ harness } = await startHarness(MANUAL_IDP));
    const metrics = harness.signIn.services.metrics;
    await harness.close();
    harness = undefined;
    expect((await metrics.certificateExpiryDays.get()).values).toEqual([]);
  });
});

describe("certificate expiry warnings", () => {
  it("warns at start about certificates within 30 days", async () => {
    const logs = new LogCapture();
    const start = IDP_NOT_AFTER - 12 * DAY_MS;
    ({ harness } = await startHarness(MANUAL_IDP, logs, {}, start));
    const warnings = logs.lines().filter((line) => line.role === "idp-signing");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe(40);
    expect(warnings[0]!.daysLeft).toBe(12);
    expect(warnings[0]!.msg).toBe("certificate expires in 12 days");
  });

  it("stays quiet for certificates valid longer", async () => {
    const logs = new LogCapture();
    ({ harness } = await startHarness(
      MANUAL_IDP,
      logs,
      { sp: SP_KEYS },
      IDP_NOT_AFTER - 31 * DAY_MS,
    ));
    expect(logs.lines().filter((line) => line.role !== undefined)).toEqual([]);
  });

  it("warns again after each refresh", async () => {
    const server = await DocumentServer.start();
    const cache = temporaryFolder("fs-expiry-cache-");
    try {
      server.body = idpMetadataXml({ signingCerts: [certFile("demo-idp-signing.crt")] });
      const logs = new LogCapture();
      const idp = { metadataUrl: server.url, metadataCacheDir: cache.folder };
      ({ harness } = await startHarness(idp, logs, {}, IDP_NOT_AFTER - 12 * DAY_MS));
      const warnings = () => logs.lines().filter((line) => line.role === "idp-signing");
      expect(warnings()).toHaveLength(1);

      harness.clock.advance(2 * DAY_MS);
      const connection = harness.signIn.registry.get(CONNECTION_ID) as SamlConnection;
      await expect(connection.metadataSource!.refreshNow()).resolves.toBe("unchanged");
      expect(warnings()).toHaveLength(2);
      expect(warnings()[1]!.daysLeft).toBe(10);
    } finally {
      await harness?.close();
      harness = undefined;
      await server.close();
      cache.cleanup();
    }
  });

  it("logs an error for an expired certificate", async () => {
    const logs = new LogCapture();
    ({ harness } = await startHarness(MANUAL_IDP, logs, {}, IDP_NOT_AFTER + DAY_MS));
    const expired = logs.lines().filter((line) => line.role === "idp-signing");
    expect(expired).toHaveLength(1);
    expect(expired[0]!.level).toBe(50);
  });
});

describe("SP signing key rollover", () => {
  it("publishes the current and the next signing certificate", async () => {
    ({ harness } = await startHarness(MANUAL_IDP, new LogCapture(), { sp: SP_KEYS }));
    const res = await harness.http().get(`/saml/${CONNECTION_ID}/metadata`);
    const doc = new DOMParser().parseFromString(res.text, "text/xml");
    const uses = Array.from(doc.getElementsByTagNameNS(MD, "KeyDescriptor")).map((element) =>
      element.getAttribute("use"),
    );
    expect(uses).toEqual(["signing", "signing", "encryption"]);
    const body = (name: string) => certFile(name).replace(/-----[A-Z ]+-----|\s/g, "");
    expect(res.text).toContain(body("test-sp-signing.crt"));
    expect(res.text).toContain(body("test-untrusted-signing.crt"));
  });

  it("rejects an unreadable next signing certificate", async () => {
    await expect(
      startHarness(MANUAL_IDP, new LogCapture(), { sp: { nextSigningCert: "certs/missing.crt" } }),
    ).rejects.toThrow(/connections\[0\]\.sp\.nextSigningCert/);
  });
});
