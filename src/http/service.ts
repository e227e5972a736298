import type Cookies from "cookies";
import type Koa from "koa";
import type { CustomFetch } from "openid-client";
import type { AuditLog } from "../audit/audit.js";
import type { Clock, IdGenerator } from "../clock.js";
import type { ServiceConfig } from "../config/load.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "./metrics.js";
import type { SessionLifetime } from "../session/session.js";
import type { Store } from "../session/store.js";

/** Shared services handed to every connection and route. */
export interface ServiceContext {
  config: ServiceConfig;
  /** `baseUrl` without a trailing slash. */
  baseUrl: string;
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  lifetime: SessionLifetime;
  /**
   * Test hook: the fetch used for requests to the OpenID providers of `type: oidc` connections
   * (discovery, JWKS, token endpoint). Undefined in production, where the global fetch is used.
   */
  fetch?: CustomFetch;
  /**
   * Returns the cookie jar signed with our session keys (not the host app's `app.keys`), for
   * short-lived protocol cookies such as the SAML request binding.
   */
  cookies(ctx: Koa.Context): Cookies;
}
