/**
 * SMART App Launch (`type: smart` connections): EHR launch and standalone launch against
 * allow-listed FHIR servers, with the launch context kept in the session.
 */
export { createSmartConnection, SmartConnection } from "./connection.js";
export { installSmartRoutes } from "./routes.js";
export { getSmartAccessToken } from "./tokens.js";
