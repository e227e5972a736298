import { describe, expect, it } from "@jest/globals";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";
import { parseDurationMs } from "../../src/config/duration.js";
import { ConfigError } from "../../src/errors.js";
import { TEST_SESSION_KEY } from "../support/fakes.js";

const SESSION = { keys: [TEST_SESSION_KEY] };

function problemsOf(input: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(input, { env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

const samlConnection = {
  id: "mercy-saml",
  type: "saml",
  idp: { metadataFile: "idp.xml" },
};

describe("config", () => {
  it("accepts a minimal file and fills defaults", () => {
    const config = parseConfig({ baseUrl: "https://signin.example.org/", session: SESSION });
    expect(config.baseUrl).toBe("https://signin.example.org");
    expect(config.session.maxAge).toBe(8 * 3_600_000);
    expect(config.session.idleTimeout).toBe(30 * 60_000);
    expect(config.session.store).toEqual({ type: "memory", maxEntries: 100_000 });
    expect(config.connections).toEqual([]);
  });

  it("parses durations with units", () => {
    expect(parseDurationMs("90s")).toBe(90_000);
    expect(parseDurationMs("30m")).toBe(1_800_000);
    expect(parseDurationMs("8h")).toBe(28_800_000);
    expect(parseDurationMs("500ms")).toBe(500);
    expect(parseDurationMs("8")).toBeUndefined();
    expect(parseDurationMs("8 hours")).toBeUndefined();
  });

  it("names key, value and fix for a bad duration", () => {
    const problems = problemsOf({
      baseUrl: "https://signin.example.org",
      session: { ...SESSION, maxAge: "eight hours" },
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("session.maxAge");
    expect(problems[0]).toContain("eight hours");
    expect(problems[0]).toContain('e.g. "8h"');
  });

  it("rejects short cookie keys", () => {
    const problems = problemsOf({ baseUrl: "https://a.example", session: { keys: ["short"] } });
    expect(problems[0]).toContain("session.keys[0]");
    expect(problems[0]).toContain("at least 32 characters");
  });

  it("rejects unknown keys with their names", () => {
    const problems = problemsOf({ baseUrl: "https://a.example", session: SESSION, colour: "red" });
    expect(problems[0]).toContain("colour");
  });

  it("reads env: references", () => {
    const config = parseConfig(
      {
        baseUrl: "https://a.example",
        session: { keys: ["env:FS_KEY"] },
        connections: [
          {
            id: "mercy-oidc",
            type: "oidc",
            issuer: "https://login.microsoftonline.com/6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c/v2.0",
            clientId: "client",
            clientSecret: "env:MERCY_SECRET",
          },
        ],
      },
      { env: { FS_KEY: TEST_SESSION_KEY, MERCY_SECRET: "s3cret" } },
    );
    expect(config.session.keys).toEqual([TEST_SESSION_KEY]);
    const connection = config.connections[0];
    expect(connection?.type).toBe("oidc");
    if (connection?.type !== "oidc") return;
    expect(connection.clientSecret).toBe("s3cret");
  });

  it("names a missing environment variable", () => {
    const problems = problemsOf({ baseUrl: "https://a.example", session: { keys: ["env:NOPE"] } });
    expect(problems[0]).toContain("session.keys[0]");
    expect(problems[0]).toContain("NOPE is not set");
  });

  it("rejects bad connection ids and duplicates", () => {
    expect(
      problemsOf({
        baseUrl: "https://a.example",
        session: SESSION,
        connections: [{ ...samlConnection, id: "Mercy SAML" }],
      })[0],
    ).toContain("connections[0].id");
    const duplicate = problemsOf({
      baseUrl: "https://a.example",
      session: SESSION,
      connections: [samlConnection, samlConnection],
    });
    expect(duplicate.join("\n")).toContain('"mercy-saml" is used twice');
  });

  it("requires a SAML IdP source", () => {
    const problems = problemsOf({
      baseUrl: "https://a.example",
      session: SESSION,
      connections: [{ id: "x", type: "saml", idp: { entityId: "https://idp.example" } }],
    });
    expect(problems.join("\n")).toContain("set metadataUrl, or metadataFile, or all of entityId");
  });

  it("requires signing key and cert together", () => {
    const problems = problemsOf({
      baseUrl: "https://a.example",
      session: SESSION,
      connections: [{ ...samlConnection, sp: { signingKey: "sp.key" } }],
    });
    expect(problems.join("\n")).toContain("signingKey and signingCert together");
  });

  it("rejects a non-local idpInitiatedReturnTo", () => {
    const problems = problemsOf({
      baseUrl: "https://a.example",
      session: SESSION,
      connections: [{ ...samlConnection, idpInitiatedReturnTo: "https://evil.example/" }],
    });
    expect(problems.join("\n")).toContain("idpInitiatedReturnTo: must be a local path");
  });

  it("requires allowedTenants for a multi-tenant Entra issuer", () => {
    const problems = problemsOf({
      baseUrl: "https://a.example",
      session: SESSION,
      connections: [
        {
          id: "entra",
          type: "oidc",
          issuer: "https://login.microsoftonline.com/common/v2.0",
          clientId: "client",
        },
      ],
    });
    expect(problems.join("\n")).toContain("allowedTenants: required");
  });

  it("requires https issuers except on loopback", () => {
    const base = { baseUrl: "https://a.example", session: SESSION };
    const problems = problemsOf({
      ...base,
      connections: [{ id: "op", type: "oidc", issuer: "http://op.example", clientId: "c" }],
    });
    expect(problems.join("\n")).toContain("issuer: must use https");
    expect(() =>
      parseConfig({
        ...base,
        connections: [{ id: "op", type: "oidc", issuer: "http://127.0.0.1:4000", clientId: "c" }],
      }),
    ).not.toThrow();
  });

  it("loads a YAML file", () => {
    const folder = mkdtempSync(path.join(tmpdir(), "fs-config-"));
    const file = path.join(folder, "federated-signin.yaml");
    writeFileSync(
      file,
      `baseUrl: https://signin.example.org\nsession:\n  keys: ["${TEST_SESSION_KEY}"]\n  idleTimeout: 15m\n`,
    );
    const config = loadConfigFile(file);
    expect(config.session.idleTimeout).toBe(15 * 60_000);
    expect(config.configDir).toBe(folder);
  });

  it("reports invalid YAML with the file name", () => {
    const folder = mkdtempSync(path.join(tmpdir(), "fs-config-"));
    const file = path.join(folder, "bad.yaml");
    writeFileSync(file, "baseUrl: [unclosed\n");
    expect(() => loadConfigFile(file)).toThrow(/bad\.yaml is not valid YAML/);
  });
});
