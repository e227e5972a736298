// Benchmark child: the demo OpenID provider (oidc-provider), in its own process so that its
// CPU time is not counted against the service.
import { startDemoOidcProvider } from "../dist/demo/oidc-provider.js";
import { serveCommands } from "./lib.js";

const redirectUris = JSON.parse(process.argv[2] ?? "[]");
const provider = await startDemoOidcProvider({ port: 0, redirectUris });
serveCommands({});
process.send({
  type: "ready",
  issuer: provider.issuer,
  clientId: provider.clientId,
  clientSecret: provider.clientSecret,
});
