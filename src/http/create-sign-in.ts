import path from "node:path";
import Router from "@koa/router";
import Cookies from "cookies";
import Keygrip from "keygrip";
import { Gauge } from "prom-client";
import { SESSION_KEY_PREFIX } from "../session/session-index.js";
import Koa from "koa";
import type { CustomFetch } from "openid-client";
import { installAdminRoutes } from "../admin/routes.js";
import { AuditLog, discardSink, fileSink, stdoutSink, type AuditSink } from "../audit/audit.js";
import { cryptoIdGenerator, systemClock, type Clock, type IdGenerator } from "../clock.js";
import { isLoopbackUrl, parseConfig, type ServiceConfig } from "../config/load.js";
import type { ParsedConnection } from "../config/schema.js";
import { createLogger, type Logger } from "../logger.js";
import { createOidcConnection, installOidcRoutes } from "../oidc/index.js";
import { createSamlConnection, installSamlRoutes } from "../saml/index.js";
import { createStore } from "../session/create-store.js";
import {
  SESSION_COOKIE_JAR,
  createSessionMiddleware,
  type SessionLifetime,
} from "../session/session.js";
import type { Store } from "../session/store.js";
import { createSmartConnection, installSmartRoutes } from "../smart/index.js";
import { ConnectionRegistry, type Connection } from "./connection.js";
import { errorHandler } from "./error-handler.js";
import { forwardAuthFastPath } from "./forward-auth.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { currentSession, installCoreRoutes, installHealthRoutes } from "./routes.js";
import type { ServiceContext } from "./service.js";
import type { Identity } from "../identity/identity.js";
import type { ServerSideTokens } from "../session/session.js";

/** Options of {@link createSignIn}; all optional, for tests and embedding. */
export interface SignInOptions {
  /** Replaces the clock (tests). */
  clock?: Clock;
  /** Replaces the random ID source (tests). */
  ids?: IdGenerator;
  logger?: Logger;
  /** Replaces the store built from `session.store`. */
  store?: Store;
  metrics?: Metrics;
  /** Replaces the audit sink chosen by `audit.sink`. */
  auditSink?: AuditSink;
  /**
   * Test hook: replaces the global fetch for requests to the OpenID providers of `type: oidc`
   * connections, so a test can route a provider's https origin to a loopback server. Leave it
   * unset outside tests.
   */
  fetch?: CustomFetch;
}

/** A configured sign-in service, ready to mount in a Koa app. */
export interface SignIn {
  /** Routes of the service, with paths relative to the path of `baseUrl`. */
  readonly router: Router;
  readonly registry: ConnectionRegistry;
  readonly services: ServiceContext;
  /**
   * Adds the service to `app`: health routes, the session middleware (which sets
   * `ctx.state.identity` for every later middleware) and the routes.
   */
  mount(app: Koa): void;
  /** Returns the signed-in identity of a request, or undefined. */
  identity(ctx: Koa.Context): Identity | undefined;
  /**
   * Returns the server-side tokens of the signed-in session (OIDC and SMART access tokens),
   * for in-process code that calls an API on the user's behalf. Never send them to a browser.
   */
  tokens(ctx: Koa.Context): ServerSideTokens | undefined;
  /** Stops timers and closes the store. */
  close(): Promise<void>;
}

type ConnectionFactory = (connection: never, svc: ServiceContext) => Promise<Connection>;

const CONNECTION_FACTORIES: Record<ParsedConnection["type"], ConnectionFactory> = {
  saml: createSamlConnection as ConnectionFactory,
  oidc: createOidcConnection as ConnectionFactory,
  smart: createSmartConnection as ConnectionFactory,
};

const ROUTE_INSTALLERS = [installSamlRoutes, installOidcRoutes, installSmartRoutes];

function logRelaxations(config: ServiceConfig, logger: Logger): void {
  for (const connection of config.connections) {
    if (connection.type !== "saml") continue;
    if (connection.allowIdpInitiated) {
      logger.warn(
        { connection: connection.id, landing: connection.idpInitiatedReturnTo },
        "allowIdpInitiated is on: unsolicited SAML responses are accepted for this connection",
      );
    }
    if (connection.allowSha1) {
      logger.warn(
        { connection: connection.id },
        "allowSha1 is on: SHA-1 signatures are accepted for this connection",
      );
    }
  }
}

/**
 * Creates the sign-in service from a configuration (a parsed config file, or an object of the
 * same shape). Loads every connection's IdP metadata or discovery document before it resolves.
 *
 * @example
 * ```ts
 * const app = new Koa();
 * const signIn = await createSignIn(config);
 * signIn.mount(app);
 * app.use((ctx) => { ctx.body = ctx.state.identity?.email ?? "anonymous"; });
 * ```
 */
export async function createSignIn(
  config: ServiceConfig | unknown,
  options: SignInOptions = {},
): Promise<SignIn> {
  const parsed = isServiceConfig(config) ? config : parseConfig(config);
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? cryptoIdGenerator;
  const logger = options.logger ?? createLogger(parsed.logLevel);
  const store = options.store ?? createStore(parsed.session.store, { clock, logger });
  const metrics = options.metrics ?? createMetrics(false);
  registerActiveSessionsGauge(metrics, store);
  const audit = new AuditLog(options.auditSink ?? createAuditSink(parsed), clock);
  const lifetime: SessionLifetime = {
    maxAgeMs: parsed.session.maxAge,
    idleTimeoutMs: parsed.session.idleTimeout,
  };
  const baseUrl = parsed.baseUrl;
  const basePath = new URL(baseUrl).pathname.replace(/\/+$/, "");
  const httpsBase = baseUrl.startsWith("https:");
  // Protocol cookies are SameSite=None, which browsers accept only with Secure; browsers also
  // accept Secure cookies from http://localhost, so loopback demos work without TLS.
  const cookiesMaySetSecure = httpsBase || isLoopbackUrl(baseUrl);
  const jarKey = Symbol("federated-signin.cookies");
  // One Keygrip for all requests: given an array, Cookies would build a new one per request.
  const keygrip = new Keygrip(parsed.session.keys);

  const svc: ServiceContext = {
    config: parsed,
    baseUrl,
    store,
    clock,
    ids,
    logger,
    metrics,
    audit,
    lifetime,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    cookies(ctx) {
      const state = ctx.state as Record<symbol, Cookies | undefined>;
      let jar = state[jarKey];
      if (!jar) {
        jar = new Cookies(ctx.req, ctx.res, { keys: keygrip, secure: cookiesMaySetSecure });
        state[jarKey] = jar;
      }
      return jar;
    },
  };

  logRelaxations(parsed, logger);
  const registry = new ConnectionRegistry();
  for (const connectionConfig of parsed.connections) {
    const factory = CONNECTION_FACTORIES[connectionConfig.type];
    registry.add(await factory(connectionConfig as never, svc));
  }

  const router = new Router({ prefix: basePath || undefined });
  router.use(errorHandler(logger, `${baseUrl}/`));
  installCoreRoutes(router, registry, svc);
  installAdminRoutes(router, registry, svc);
  for (const install of ROUTE_INSTALLERS) install(router, registry);

  const healthRouter = new Router({ prefix: basePath || undefined });
  installHealthRoutes(healthRouter, registry, svc);

  return {
    router,
    registry,
    services: svc,
    mount(app: Koa) {
      const sessionMiddleware = createSessionMiddleware(app, {
        store,
        clock,
        ids,
        lifetime,
        cookieName: parsed.session.cookieName,
        secureCookie: httpsBase,
      });
      app.use(forwardAuthFastPath(svc, `${basePath}/auth`, parsed.session.cookieName));
      app.use(healthRouter.routes());
      app.use(errorHandlerForSession(logger, `${baseUrl}/`, basePath));
      app.use(async (ctx, next) => {
        // koa-session signs its cookie with ctx.cookies. It gets the jar with our keys, and the
        // host app gets its own jar back for everything downstream.
        const hostCookies = ctx.cookies;
        const ourCookies = svc.cookies(ctx);
        (ctx.state as Record<symbol, unknown>)[SESSION_COOKIE_JAR] = ourCookies;
        ctx.cookies = ourCookies;
        await sessionMiddleware(ctx, async () => {
          ctx.cookies = hostCookies;
          const record = currentSession(ctx, svc);
          if (record) ctx.state.identity = record.identity;
          try {
            await next();
          } finally {
            ctx.cookies = ourCookies;
          }
        });
        ctx.cookies = hostCookies;
      });
      app.use(router.routes());
      app.use(router.allowedMethods());
    },
    identity(ctx) {
      return currentSession(ctx, svc)?.identity;
    },
    tokens(ctx) {
      return currentSession(ctx, svc)?.tokens;
    },
    async close() {
      for (const connection of registry.all()) await connection.close?.();
      await store.close();
      await audit.close();
    },
  };
}

/**
 * Renders store failures while loading the session as our error page on our own paths. On the
 * host app's paths the coded error (status 503) goes to the host's own error handling.
 */
function errorHandlerForSession(logger: Logger, homePath: string, basePath: string): Koa.Middleware {
  const handler = errorHandler(logger, homePath);
  return async (ctx, next) => {
    if (basePath === "" || ctx.path === basePath || ctx.path.startsWith(`${basePath}/`)) {
      await handler(ctx, next);
    } else {
      await next();
    }
  };
}

const ACTIVE_SESSIONS_METRIC = "federated_signin_active_sessions";

/** Adds a gauge of stored sessions, counted on each scrape (all instances, with Redis). */
function registerActiveSessionsGauge(metrics: Metrics, store: Store): void {
  if (!store.countKeys || metrics.registry.getSingleMetric(ACTIVE_SESSIONS_METRIC)) return;
  const countKeys = store.countKeys.bind(store);
  new Gauge({
    name: ACTIVE_SESSIONS_METRIC,
    help: "Signed-in sessions in the session store (shared by all instances with Redis)",
    registers: [metrics.registry],
    async collect() {
      try {
        this.set(await countKeys(SESSION_KEY_PREFIX));
      } catch {
        // The store is down; /readyz reports it, and the gauge keeps its last value.
      }
    },
  });
}

function createAuditSink(config: ServiceConfig): AuditSink {
  const sink = config.audit.sink;
  if (sink === "stdout") return stdoutSink;
  if (sink === "none") return discardSink;
  return fileSink(path.resolve(config.configDir, sink.file));
}

function isServiceConfig(value: unknown): value is ServiceConfig {
  return value !== null && typeof value === "object" && "configDir" in value;
}

/**
 * Creates a standalone Koa app serving the sign-in service (what `federated-signin start`
 * runs).
 */
export async function createApp(
  config: ServiceConfig | unknown,
  options: SignInOptions = {},
): Promise<{ app: Koa; signIn: SignIn }> {
  const signIn = await createSignIn(config, options);
  // With trustProxy, only the last X-Forwarded-For entry (the one our proxy added) counts as
  // the client address, so a client cannot choose the address that audit events record.
  const app = new Koa({ proxy: signIn.services.config.trustProxy, maxIpsCount: 1 });
  app.silent = true;
  signIn.mount(app);
  return { app, signIn };
}
