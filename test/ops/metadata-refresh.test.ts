import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { ConfigError } from "../../src/errors.js";
import type { SamlConnection } from "../../src/saml/connection.js";
import { UNKNOWN_KEY_REFRESH_INTERVAL_MS } from "../../src/saml/metadata-source.js";
import {
  ALICE,
  Browser,
  CONNECTION_ID,
  IDP_KEY,
  UNTRUSTED_KEY,
  buildSignedResponse,
  certFile,
  type SamlHarness,
} from "../support/saml-harness.js";
import {
  DocumentServer,
  LogCapture,
  idpMetadataXml,
  signMetadata,
  startHarness,
  temporaryFolder,
} from "./support.js";

/** The IdP's current key, and the key it rolls to (no connection trusts it at first). */
const OLD_KEY = IDP_KEY;
const NEW_KEY = UNTRUSTED_KEY;
/** Signs metadata when idp.metadataSigningCert is set; ANOTHER_METADATA_KEY is not trusted. */
const METADATA_KEY = {
  key: certFile("test-sp-signing.key"),
  cert: certFile("test-sp-signing.crt"),
};
const ANOTHER_METADATA_KEY = {
  key: certFile("test-sp-encryption.key"),
  cert: certFile("test-sp-encryption.crt"),
};

let server: DocumentServer;
let cache: { folder: string; cleanup: () => void };
let harness: SamlHarness | undefined;

beforeAll(async () => {
  server = await DocumentServer.start();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  cache = temporaryFolder("fs-metadata-cache-");
  server.status = 200;
  server.requests.length = 0;
  server.body = idpMetadataXml({ signingCerts: [OLD_KEY.cert] });
});
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  cache.cleanup();
});

function connectionOf(current: SamlHarness): SamlConnection {
  return current.signIn.registry.get(CONNECTION_ID) as SamlConnection;
}

async function start(idp: Record<string, unknown> = {}, logs?: LogCapture): Promise<SamlHarness> {
  ({ harness } = await startHarness(
    { metadataUrl: server.url, metadataCacheDir: cache.folder, ...idp },
    logs,
  ));
  return harness;
}

/** Runs a full SP-initiated sign-in with a response signed by `key`; returns the ACS reply. */
async function signInWith(current: SamlHarness, key: typeof OLD_KEY) {
  const { requestId, cookies } = await current.login();
  return current.postResponse(buildSignedResponse(current.fields(requestId), key), cookies);
}

async function refreshCount(current: SamlHarness, result: string): Promise<number> {
  const metric = await current.signIn.services.metrics.metadataRefreshes.get();
  const value = metric.values.find(
    (entry) => entry.labels.connection === CONNECTION_ID && entry.labels.result === result,
  );
  return value?.value ?? 0;
}

describe("IdP certificate rollover", () => {
  it("accepts the new key through one early refresh", async () => {
    const current = await start();
    expect((await signInWith(current, OLD_KEY)).status).toBe(303);

    // The IdP publishes the new certificate next to the old one and starts signing with it
    // before the scheduled refresh is due.
    server.body = idpMetadataXml({ signingCerts: [OLD_KEY.cert, NEW_KEY.cert] });
    const fetchesBefore = server.requests.length;
    const res = await signInWith(current, NEW_KEY);
    expect(res.status).toBe(303);
    expect(server.requests.length).toBe(fetchesBefore + 1);
    expect(connectionOf(current).settings.idpCerts).toEqual([OLD_KEY.cert, NEW_KEY.cert]);

    // Both keys are trusted during the rollover.
    expect((await signInWith(current, OLD_KEY)).status).toBe(303);

    // The IdP removes the old certificate; the scheduled refresh drops it.
    server.body = idpMetadataXml({ signingCerts: [NEW_KEY.cert] });
    await expect(connectionOf(current).metadataSource!.refreshNow()).resolves.toBe("updated");
    expect((await signInWith(current, NEW_KEY)).status).toBe(303);
    const rejected = await signInWith(current, OLD_KEY);
    expect(rejected.body.error).toBe("SAML_SIGNATURE_INVALID");
    expect((await current.session(new Browser())).status).toBe(401);
  });

  it("rate-limits the early refresh per connection", async () => {
    const current = await start();
    const fetchesAtStart = server.requests.length;

    const first = await signInWith(current, NEW_KEY);
    expect(first.body.error).toBe("SAML_SIGNATURE_INVALID");
    expect(server.requests.length).toBe(fetchesAtStart + 1);

    current.clock.advance(UNKNOWN_KEY_REFRESH_INTERVAL_MS - 1000);
    const second = await signInWith(current, NEW_KEY);
    expect(second.body.error).toBe("SAML_SIGNATURE_INVALID");
    expect(server.requests.length).toBe(fetchesAtStart + 1);

    current.clock.advance(1000);
    server.body = idpMetadataXml({ signingCerts: [OLD_KEY.cert, NEW_KEY.cert] });
    const third = await signInWith(current, NEW_KEY);
    expect(third.status).toBe(303);
    expect(server.requests.length).toBe(fetchesAtStart + 2);
  });

  it("does not refresh for a tampered response signed by a trusted key", async () => {
    const current = await start();
    const fetchesAtStart = server.requests.length;
    const { requestId, cookies } = await current.login();
    const signed = buildSignedResponse(current.fields(requestId), OLD_KEY);
    const tampered = signed.replace(ALICE.objectId, `${ALICE.objectId}x`);
    expect(tampered).not.toBe(signed);
    const res = await current.postResponse(tampered, cookies);
    expect(res.body.error).toBe("SAML_SIGNATURE_INVALID");
    expect(server.requests.length).toBe(fetchesAtStart);
  });

  it("rejects a key the refresh lacks", async () => {
    const current = await start();
    const res = await signInWith(current, NEW_KEY);
    expect(res.body.error).toBe("SAML_SIGNATURE_INVALID");
    expect(await refreshCount(current, "unchanged")).toBe(1);
    expect(connectionOf(current).settings.idpCerts).toEqual([OLD_KEY.cert]);
  });
});

describe("metadata URL outage", () => {
  it("keeps the last good copy when the URL fails", async () => {
    const current = await start();
    server.status = 503;
    await expect(connectionOf(current).metadataSource!.refreshNow()).resolves.toBe("fetch_failed");
    expect(await refreshCount(current, "fetch_failed")).toBe(1);
    expect((await signInWith(current, OLD_KEY)).status).toBe(303);
  });

  it("starts from the disk copy when the URL fails", async () => {
    const first = await start();
    const cacheFile = path.join(cache.folder, `${CONNECTION_ID}.xml`);
    expect(readFileSync(cacheFile, "utf8")).toBe(server.body);
    await first.close();
    harness = undefined;

    server.status = 503;
    const logs = new LogCapture();
    const restarted = await start({}, logs);
    expect(await refreshCount(restarted, "fetch_failed")).toBe(1);
    expect(await refreshCount(restarted, "cache_used")).toBe(1);
    expect((await signInWith(restarted, OLD_KEY)).status).toBe(303);
    const used = logs.lines().filter((line) => line.result === "cache_used");
    expect(used).toHaveLength(1);
  });

  it("fails to start with neither URL nor disk copy", async () => {
    server.status = 503;
    const error = await start().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).toContain("connections[0].idp.metadataUrl");
    expect((error as ConfigError).problems[0]).toContain("HTTP status 503");
    expect(existsSync(path.join(cache.folder, `${CONNECTION_ID}.xml`))).toBe(false);
  });

  it("ignores an expired disk copy at start", async () => {
    const first = await start();
    await first.close();
    harness = undefined;
    // Overwrite the disk copy with one that expired before the fake clock's now.
    writeFileSync(
      path.join(cache.folder, `${CONNECTION_ID}.xml`),
      idpMetadataXml({ signingCerts: [OLD_KEY.cert], validUntil: Date.UTC(2025, 0, 1) }),
    );
    server.status = 503;
    await expect(start()).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("rejected metadata documents", () => {
  const cases: Array<[string, () => string, string]> = [
    ["unparsable XML", () => "<EntityDescriptor", "malformed"],
    [
      "expired validUntil",
      () => idpMetadataXml({ signingCerts: [NEW_KEY.cert], validUntil: Date.UTC(2026, 0, 1) }),
      "expired",
    ],
    [
      "WS-Fed only",
      () => idpMetadataXml({ signingCerts: [NEW_KEY.cert], wsFedOnly: true }),
      "not_saml_idp",
    ],
    [
      "another entity ID",
      () =>
        idpMetadataXml({
          signingCerts: [NEW_KEY.cert],
          entityId: "https://idp.example.test/other",
        }),
      "entity_changed",
    ],
  ];

  it.each(cases)("rejects %s and keeps the old copy", async (_name, document, reason) => {
    const logs = new LogCapture();
    const current = await start({}, logs);
    server.body = document();
    await expect(connectionOf(current).metadataSource!.refreshNow()).resolves.toBe(reason);
    expect(await refreshCount(current, reason)).toBe(1);
    expect(connectionOf(current).settings.idpCerts).toEqual([OLD_KEY.cert]);
    expect((await signInWith(current, OLD_KEY)).status).toBe(303);
    const logged = logs.lines().filter((line) => line.result === reason);
    expect(logged).toHaveLength(1);
    expect(logs.raw.join("\n")).not.toContain("<EntityDescriptor");
    expect(logs.raw.join("\n")).not.toContain("MII");
  });

  describe("with idp.metadataSigningCert", () => {
    const signedCases: Array<[string, () => string]> = [
      ["unsigned", () => idpMetadataXml({ signingCerts: [NEW_KEY.cert] })],
      [
        "signed by another key",
        () => signMetadata(idpMetadataXml({ signingCerts: [NEW_KEY.cert] }), ANOTHER_METADATA_KEY),
      ],
    ];

    it.each(signedCases)("rejects %s metadata", async (_name, document) => {
      server.body = signMetadata(idpMetadataXml({ signingCerts: [OLD_KEY.cert] }), METADATA_KEY);
      const current = await start({ metadataSigningCert: "certs/test-sp-signing.crt" });
      server.body = document();
      const result = await connectionOf(current).metadataSource!.refreshNow();
      expect(result).toBe("signature_invalid");
      expect(await refreshCount(current, "signature_invalid")).toBe(1);
      expect(connectionOf(current).settings.idpCerts).toEqual([OLD_KEY.cert]);
    });

    it("accepts metadata signed by that certificate", async () => {
      server.body = signMetadata(idpMetadataXml({ signingCerts: [OLD_KEY.cert] }), METADATA_KEY);
      const current = await start({ metadataSigningCert: "certs/test-sp-signing.crt" });
      server.body = signMetadata(
        idpMetadataXml({ signingCerts: [OLD_KEY.cert, NEW_KEY.cert] }),
        METADATA_KEY,
      );
      await expect(connectionOf(current).metadataSource!.refreshNow()).resolves.toBe("updated");
      expect(connectionOf(current).settings.idpCerts).toHaveLength(2);
    });
  });
});

describe("refresh schedule", () => {
  it("follows cacheDuration within the bounds", async () => {
    server.body = idpMetadataXml({ signingCerts: [OLD_KEY.cert], cacheDuration: "PT1H" });
    const current = await start({
      metadataRefreshMinInterval: "10m",
      metadataRefreshMaxInterval: "6h",
    });
    const source = connectionOf(current).metadataSource!;
    const now = current.clock.now();
    expect(source.nextRefreshAtMs).toBeGreaterThan(now + 54 * 60_000 - 1);
    expect(source.nextRefreshAtMs).toBeLessThanOrEqual(now + 60 * 60_000);
  });

  it("stops the schedule on close", async () => {
    const current = await start();
    const source = connectionOf(current).metadataSource!;
    expect(source.nextRefreshAtMs).toBeDefined();
    await current.close();
    harness = undefined;
    expect(source.nextRefreshAtMs).toBeUndefined();
  });

  it("rejects a minimum interval above the maximum", async () => {
    await expect(
      start({ metadataRefreshMinInterval: "7h", metadataRefreshMaxInterval: "6h" }),
    ).rejects.toThrow(/metadataRefreshMinInterval: must not be longer/);
  });
});
