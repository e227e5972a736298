// Attacks a config author could make by mistake: YAML alias bombs, and `env:` references to
// variables that are unset or contain secrets.
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfigFile, parseConfig } from "../../src/config/load.js";

let folder: string;

beforeAll(() => {
  folder = mkdtempSync(path.join(tmpdir(), "fs-attacks2-config-"));
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return "";
}

describe("config loading", () => {
  it("rejects a YAML alias bomb", () => {
    // Nine levels of nine aliases expand to 9^9 strings, so the parser must stop long before.
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level <= 9; level += 1) {
      const previous = `*a${level - 1}`;
      lines.push(`a${level}: &a${level} [${Array(9).fill(previous).join(",")}]`);
    }
    lines.push("baseUrl: https://signin.example.org");
    const file = path.join(folder, "bomb.yaml");
    writeFileSync(file, lines.join("\n"));

    const message = messageOf(() => loadConfigFile(file, {}));
    expect(message).toContain("is not valid YAML/JSON");
  });

  it("names an unset env variable without reading others", () => {
    const message = messageOf(() =>
      parseConfig(
        {
          baseUrl: "https://signin.example.org",
          session: { keys: ["env:FS_ATTACK_UNSET"] },
          connections: [],
        },
        { env: { FS_ATTACK_OTHER: "other-secret-value-0123456789abcdef" } },
      ),
    );
    expect(message).toContain("environment variable FS_ATTACK_UNSET is not set");
    expect(message).not.toContain("other-secret-value");
  });

  it("keeps a nested env: reference as text", () => {
    const config = parseConfig(
      {
        baseUrl: "https://signin.example.org",
        session: { keys: ["env:FS_ATTACK_KEY"] },
        connections: [],
      },
      {
        env: {
          FS_ATTACK_KEY: "env:FS_ATTACK_SECOND_HOP_0123456789abcdef",
          FS_ATTACK_SECOND_HOP_0123456789abcdef: "x",
        },
      },
    );
    expect(config.session.keys).toEqual(["env:FS_ATTACK_SECOND_HOP_0123456789abcdef"]);
  });
});
