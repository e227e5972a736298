import { z } from "zod";
import { parseDurationMs } from "./duration.js";

/** Connection ids appear in URL paths, cookie names and store keys. */
export const CONNECTION_ID_PATTERN = /^[a-z0-9-]+$/;

/** Fields of the normalized identity that a claim mapping may set. */
export const MAPPABLE_FIELDS = [
  "subject",
  "tenantId",
  "objectId",
  "email",
  "username",
  "name",
  "givenName",
  "familyName",
  "groups",
  "roles",
  "authMethods",
] as const;

export type MappableField = (typeof MAPPABLE_FIELDS)[number];

const duration = (example: string) =>
  z
    .string({
      error: `invalid duration: write a number with a unit (ms, s, m, h, d) in quotes, e.g. "${example}"`,
    })
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `invalid duration "${text}": write a number with a unit (ms, s, m, h, d), e.g. "${example}"`,
        });
        return z.NEVER;
      }
      return ms;
    });

const httpUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}, "must be an absolute http or https URL");

const claimNames = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const claimsSchema = z
  .union([
    z.enum(["entra", "generic"]),
    z
      .object({ preset: z.enum(["entra", "generic"]).default("generic") })
      .extend(
        Object.fromEntries(MAPPABLE_FIELDS.map((field) => [field, claimNames.optional()])) as {
          [K in MappableField]: z.ZodOptional<typeof claimNames>;
        },
      )
      .strict(),
  ])
  .default("generic");

const baseConnection = {
  id: z
    .string()
    .regex(CONNECTION_ID_PATTERN, "must contain only lower-case letters, digits and '-'"),
  name: z.string().min(1).optional(),
  claims: claimsSchema,
  clockSkew: duration("3m").default(180_000),
  /** Keeps a redacted trace of each sign-in attempt for the admin pages (see docs/traces.md). */
  trace: z.boolean().default(false),
};

const samlConnectionSchema = z
  .object({
    ...baseConnection,
    type: z.literal("saml"),
    idp: z
      .object({
        metadataUrl: httpUrl.optional(),
        metadataFile: z.string().min(1).optional(),
        /** Optional PEM (or path) of a certificate that must have signed the metadata. */
        metadataSigningCert: z.string().min(1).optional(),
        /** Minimum time between two scheduled refreshes of metadataUrl. */
        metadataRefreshMinInterval: duration("5m").default(5 * 60_000),
        /** Maximum time between two scheduled refreshes of metadataUrl. */
        metadataRefreshMaxInterval: duration("6h").default(6 * 3_600_000),
        /**
         * Folder for the last accepted copy of metadataUrl (file `<connection id>.xml`), relative
         * to the config folder; default `var/metadata-cache`.
         */
        metadataCacheDir: z.string().min(1).optional(),
        entityId: z.string().min(1).optional(),
        ssoUrl: httpUrl.optional(),
        sloUrl: httpUrl.optional(),
        certificates: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict(),
    sp: z
      .object({
        entityId: z.string().min(1).optional(),
        signingKey: z.string().min(1).optional(),
        signingCert: z.string().min(1).optional(),
        /** Certificate of the next SP signing key, published in SP metadata ahead of a rollover. */
        nextSigningCert: z.string().min(1).optional(),
        decryptionKey: z.string().min(1).optional(),
        decryptionCert: z.string().min(1).optional(),
        nameIdFormat: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    allowSha1: z.boolean().default(false),
    allowIdpInitiated: z.boolean().default(false),
    idpInitiatedReturnTo: z.string().default("/"),
    forceAuthn: z.boolean().default(false),
    maxResponseSize: z
      .number()
      .int()
      .positive()
      .default(256 * 1024),
  })
  .strict();

const oidcConnectionSchema = z
  .object({
    ...baseConnection,
    type: z.literal("oidc"),
    issuer: httpUrl,
    allowedTenants: z.array(z.string().min(1)).optional(),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
    tokenEndpointAuthMethod: z
      .enum(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
      .optional(),
    scopes: z.array(z.string().min(1)).default(["openid", "profile", "email"]),
    responseMode: z.enum(["query", "form_post"]).default("query"),
    prompt: z.string().optional(),
  })
  .strict();

const smartConnectionSchema = z
  .object({
    ...baseConnection,
    type: z.literal("smart"),
    fhirServers: z.array(httpUrl).min(1),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).default(["launch", "openid", "fhirUser"]),
  })
  .strict();

const storeSchema = z
  .discriminatedUnion("type", [
    z
      .object({
        type: z.literal("memory"),
        maxEntries: z.number().int().positive().default(100_000),
      })
      .strict(),
    z
      .object({
        type: z.literal("redis"),
        url: z.string().min(1).default("redis://127.0.0.1:6379"),
        prefix: z.string().default("fs:"),
      })
      .strict(),
  ])
  .default({ type: "memory", maxEntries: 100_000 });

export const serviceConfigSchema = z
  .object({
    baseUrl: httpUrl.transform((text) => text.replace(/\/+$/, "")),
    listen: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(3000),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 3000 }),
    trustProxy: z.boolean().default(false),
    audit: z
      .object({
        /** "stdout" (default), "none", or the path of a file to append JSON lines to. */
        sink: z.union([z.enum(["stdout", "none"]), z.object({ file: z.string().min(1) }).strict()]),
      })
      .strict()
      .default({ sink: "stdout" }),
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
    session: z
      .object({
        keys: z
          .array(z.string().min(32, "must be at least 32 characters of random text"))
          .min(1, "needs at least one cookie signing key"),
        store: storeSchema,
        maxAge: duration("8h").default(8 * 3_600_000),
        idleTimeout: duration("30m").default(30 * 60_000),
        cookieName: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+$/)
          .default("fs_session"),
      })
      .strict(),
    admin: z
      .object({
        /** Bearer token of the admin pages (`/admin/traces`); without it they return 404. */
        token: z.string().min(32, "must be at least 32 characters of random text"),
      })
      .strict()
      .optional(),
    workers: z
      .object({
        /**
         * Worker threads that validate SAML responses. 0 validates on the main thread; unset means
         * CPUs minus one (at least 1), or 0 when running from the TypeScript source.
         */
        saml: z.number().int().min(0).max(256).optional(),
      })
      .strict()
      .optional(),
    connections: z
      .array(
        z.discriminatedUnion("type", [
          samlConnectionSchema,
          oidcConnectionSchema,
          smartConnectionSchema,
        ]),
      )
      .default([]),
  })
  .strict();

/** Configuration as written in the file, before files and certificates are read. */
export type ServiceConfigInput = z.input<typeof serviceConfigSchema>;
/** Validated configuration; durations are in milliseconds. */
export type ParsedServiceConfig = z.output<typeof serviceConfigSchema>;
export type ParsedConnection = ParsedServiceConfig["connections"][number];
export type ParsedSamlConnection = Extract<ParsedConnection, { type: "saml" }>;
export type ParsedOidcConnection = Extract<ParsedConnection, { type: "oidc" }>;
export type ParsedSmartConnection = Extract<ParsedConnection, { type: "smart" }>;
export type ClaimsConfig = ParsedConnection["claims"];
