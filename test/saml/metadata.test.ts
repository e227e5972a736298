import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { DOMParser } from "@xmldom/xmldom";
import { createApp } from "../../src/http/create-sign-in.js";
import { ConfigError } from "../../src/errors.js";
import { parseIdpMetadata, MetadataError } from "../../src/saml/idp-metadata.js";
import {
  CONNECTION_ID,
  REPO_ROOT,
  SamlHarness,
  certFile,
  samlConfig,
} from "../support/saml-harness.js";

const FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "saml");
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), "utf8");
const MD = "urn:oasis:names:tc:SAML:2.0:metadata";

describe("IdP metadata parsing", () => {
  it("reads Entra's common document past the WS-Fed RoleDescriptors", () => {
    const metadata = parseIdpMetadata(fixture("entra-federation-metadata-common.xml"));
    expect(metadata.entityId).toBe("https://sts.windows.net/{tenantid}/");
    expect(metadata.signingCerts).toHaveLength(3);
    expect(metadata.ssoRedirectUrl).toBe("https://login.microsoftonline.com/common/saml2");
    expect(metadata.sloRedirectUrl).toBe("https://login.microsoftonline.com/common/saml2");
  });

  it("reads the per-app tenant document", () => {
    const metadata = parseIdpMetadata(fixture("entra-app-federation-metadata-tenant.DERIVED.xml"));
    expect(metadata.entityId).toBe("https://sts.windows.net/00000000-0000-0000-0000-0000000fa4e0/");
    expect(metadata.signingCerts).toHaveLength(1);
    expect(metadata.ssoRedirectUrl).toBe(
      "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000fa4e0/saml2",
    );
  });

  it("verifies the common document's own signature", () => {
    const xml = fixture("entra-federation-metadata-common.xml");
    const firstCert = parseIdpMetadata(xml).signingCerts[0]!;
    expect(parseIdpMetadata(xml, firstCert).signingCerts).toHaveLength(3);
  });

  it("rejects metadata signed by another certificate", () => {
    const xml = fixture("entra-federation-metadata-common.xml");
    expect(() => parseIdpMetadata(xml, certFile("demo-idp-signing.crt"))).toThrow(MetadataError);
  });

  it("rejects metadata with a DOCTYPE", () => {
    const xml = `<!DOCTYPE x [<!ENTITY a "b">]>${fixture("entra-app-federation-metadata-tenant.DERIVED.xml").replace(/^<\?xml[^>]*\?>/, "")}`;
    expect(() => parseIdpMetadata(xml)).toThrow(/DOCTYPE/);
  });

  it("rejects metadata without an IDPSSODescriptor", () => {
    const xml = `<EntityDescriptor xmlns="${MD}" entityID="https://sp.example"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>`;
    expect(() => parseIdpMetadata(xml)).toThrow(/no IDPSSODescriptor/);
  });
});

describe("connection config errors", () => {
  it("rejects the common document's {tenantid} entity ID", async () => {
    const config = samlConfig({
      idp: { metadataFile: "test/fixtures/saml/entra-federation-metadata-common.xml" },
    });
    await expect(createApp(config)).rejects.toThrow(/sts\.windows\.net\/<your tenant id>/);
  });

  it("names the key of an unreadable certificate file", async () => {
    const config = samlConfig({
      idp: {
        entityId: "https://idp.example",
        ssoUrl: "https://idp.example/sso",
        certificates: ["certs/missing.crt"],
      },
    });
    const error = await createApp(config).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).toContain("connections[0].idp.certificates[0]");
  });

  it("rejects a signing key that is not a key", async () => {
    const config = samlConfig({
      sp: { signingKey: "certs/test-sp-signing.crt", signingCert: "certs/test-sp-signing.crt" },
    });
    await expect(createApp(config)).rejects.toThrow(
      /connections\[0\]\.sp\.signingKey: not a readable PEM private key/,
    );
  });

  it("loads the IdP from a metadata file", async () => {
    const { signIn } = await createApp(
      samlConfig({
        idp: {
          metadataFile: "test/fixtures/saml/entra-app-federation-metadata-tenant.DERIVED.xml",
        },
      }),
    );
    await expect(signIn.registry.get(CONNECTION_ID)!.checkReady()).resolves.toBeUndefined();
    await signIn.close();
  });
});

describe("SP metadata", () => {
  let harness: SamlHarness;
  beforeAll(async () => {
    harness = await SamlHarness.start({
      sp: {
        signingKey: "certs/test-sp-signing.key",
        signingCert: "certs/test-sp-signing.crt",
        decryptionKey: "certs/test-sp-encryption.key",
        decryptionCert: "certs/test-sp-encryption.crt",
      },
    });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("describes entity ID, ACS, SLO and keys", async () => {
    const res = await harness.http().get(`/saml/${CONNECTION_ID}/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toContain("application/samlmetadata+xml");
    const doc = new DOMParser().parseFromString(res.text, "text/xml");
    const entity = doc.documentElement!;
    expect(entity.getAttribute("entityID")).toBe("https://signin.example.org/saml/entra/metadata");
    const sp = doc.getElementsByTagNameNS(MD, "SPSSODescriptor")[0]!;
    expect(sp.getAttribute("AuthnRequestsSigned")).toBe("true");
    expect(sp.getAttribute("WantAssertionsSigned")).toBe("true");
    const acs = doc.getElementsByTagNameNS(MD, "AssertionConsumerService")[0]!;
    expect(acs.getAttribute("Location")).toBe("https://signin.example.org/saml/entra/acs");
    expect(acs.getAttribute("Binding")).toBe("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    const slo = Array.from(doc.getElementsByTagNameNS(MD, "SingleLogoutService")).map((element) =>
      element.getAttribute("Binding"),
    );
    expect(slo).toEqual([
      "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
      "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    ]);
    const uses = Array.from(doc.getElementsByTagNameNS(MD, "KeyDescriptor")).map((element) =>
      element.getAttribute("use"),
    );
    expect(uses).toEqual(["signing", "encryption"]);
    const signingCertBody = certFile("test-sp-signing.crt").replace(/-----[A-Z ]+-----|\s/g, "");
    expect(res.text).toContain(signingCertBody);
    expect(doc.getElementsByTagNameNS(MD, "NameIDFormat")[0]!.textContent).toBe(
      "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    );
  });

  it("uses sp.entityId when set", async () => {
    const custom = await SamlHarness.start({ sp: { entityId: "urn:example:signin" } });
    try {
      const res = await custom.http().get(`/saml/${CONNECTION_ID}/metadata`);
      expect(res.text).toContain('entityID="urn:example:signin"');
    } finally {
      await custom.close();
    }
  });

  it("answers 404 for an unknown connection", async () => {
    const res = await harness.http().get("/saml/nope/metadata").set("Accept", "application/json");
    expect(res.status).toBe(404);
    expect(res.body.error).toBe("CONNECTION_NOT_FOUND");
  });
});
