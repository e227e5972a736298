import { describe, expect, it } from "@jest/globals";
import { safeReturnTo } from "../../src/http/return-to.js";

describe("safeReturnTo", () => {
  it.each([
    ["/", "/"],
    ["/patients/42?tab=notes#top", "/patients/42?tab=notes#top"],
    ["//evil.example/x", "/"],
    ["/\\evil.example", "/"],
    ["https://evil.example/", "/"],
    ["javascript:alert(1)", "/"],
    ["evil.example", "/"],
    ["/%2F%2Fevil.example", "/"],
    ["/%5Cevil.example", "/"],
    ["/ok\r\nSet-Cookie: x=1", "/"],
    ["", "/"],
  ])("%j becomes %j", (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it("non-strings become /", () => {
    expect(safeReturnTo(["/a", "/b"])).toBe("/");
    expect(safeReturnTo(undefined)).toBe("/");
  });
});
