import { describe, expect, it } from "@jest/globals";
import { maskEmail, maskName, redactDetail, redactValue } from "../../src/traces/redact.js";

describe("trace redaction", () => {
  it("masks e-mail addresses", () => {
    expect(maskEmail("alice.smith@mercy.example.org")).toBe("a***@m***.org");
    expect(redactValue("mail", "bob@example.com")).toBe("b***@e***.com");
  });

  it("masks person names by claim name", () => {
    expect(maskName("Dr. Alice Nguyen")).toBe("D*** A*** N***");
    expect(redactValue("given_name", "Alice")).toBe("A***");
    expect(
      redactValue("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "Nguyen"),
    ).toBe("N***");
  });

  it("truncates other values", () => {
    expect(redactValue("tid", "6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c")).toBe(
      "6f1c2b3a-8d4e-4f5a-9b6c-…",
    );
  });

  it("removes JWT-like values", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl";
    expect(redactValue("hint", jwt)).toBe("[token-like value removed]");
    expect(redactDetail("reason", jwt)).toBe("[token-like value removed]");
  });

  it("shortens lists and keeps only object member names", () => {
    expect(redactValue("groups", ["a", "b", "c", "d", "e", "f", "g"])).toBe(
      "[a, b, c, d, e, … (7 values)]",
    );
    expect(redactValue("_claim_names", { groups: "src1" })).toBe("{groups}");
  });

  it("masks e-mail addresses inside rejection details", () => {
    expect(redactDetail("reason", "user alice@example.org is not allowed")).toBe(
      "user a***@e***.org is not allowed",
    );
  });
});
