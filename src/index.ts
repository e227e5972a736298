/**
 * federated-signin: sign-in microservice that turns SAML 2.0, OpenID Connect and SMART on FHIR
 * sign-ins into one normalized user session. Embed it with {@link createSignIn}.
 *
 * @packageDocumentation
 */
export { createSignIn, createApp } from "./http/create-sign-in.js";
export type { SignIn, SignInOptions } from "./http/create-sign-in.js";
export { loadConfigFile, parseConfig } from "./config/load.js";
export type { ServiceConfig } from "./config/load.js";
export type { ServiceConfigInput } from "./config/schema.js";
export type { Identity, Protocol, SmartContext } from "./identity/identity.js";
export { SignInError, ConfigError, ERROR_CODES, isSignInError } from "./errors.js";
export type { ErrorCode } from "./errors.js";
export type { Store } from "./session/store.js";
export { MemoryStore } from "./session/memory-store.js";
export type { ServerSideTokens } from "./session/session.js";
export type { Clock, IdGenerator } from "./clock.js";
