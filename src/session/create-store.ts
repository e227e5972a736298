import type { Logger } from "pino";
import type { Clock } from "../clock.js";
import type { ParsedServiceConfig } from "../config/schema.js";
import { MemoryStore } from "./memory-store.js";
import { RedisStore } from "./redis-store.js";
import type { Store } from "./store.js";

/** Environment variable that, when set and not empty, replaces `session.store.url`. */
export const REDIS_URL_ENV = "FEDERATED_SIGNIN_REDIS_URL";

/** The parsed `session.store` configuration. */
export type StoreConfig = ParsedServiceConfig["session"]["store"];

/** Dependencies of {@link createStore}. */
export interface CreateStoreOptions {
  clock?: Clock;
  logger?: Logger;
  /** Environment that {@link REDIS_URL_ENV} is read from. Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Creates the store that `session.store` selects: a {@link MemoryStore} for `type: memory`, or a
 * {@link RedisStore} for `type: redis`. For Redis, the URL comes from the environment variable
 * FEDERATED_SIGNIN_REDIS_URL when it is set, so a password need not be written in the file, and
 * from `session.store.url` otherwise.
 */
export function createStore(storeConfig: StoreConfig, options: CreateStoreOptions = {}): Store {
  const env = options.env ?? process.env;
  const urlFromEnv = env[REDIS_URL_ENV];

  if (storeConfig.type === "memory") {
    if (urlFromEnv) {
      options.logger?.warn(
        `${REDIS_URL_ENV} is set but session.store.type is memory, so the variable is ignored`,
      );
    }
    return new MemoryStore({ maxEntries: storeConfig.maxEntries, clock: options.clock });
  }

  options.logger?.info(
    { prefix: storeConfig.prefix, urlSource: urlFromEnv ? REDIS_URL_ENV : "session.store.url" },
    "Using the Redis session store",
  );
  return new RedisStore({
    url: urlFromEnv || storeConfig.url,
    prefix: storeConfig.prefix,
    clock: options.clock,
    logger: options.logger,
  });
}
