// Embeds federated-signin in an existing Koa app: the app's own routes read
// ctx.state.identity, and the sign-in routes live under the same origin.
//
// Run after `npm run build`:  node --experimental-strip-types examples/embedded-koa.ts
// (or compile it with tsc). It expects ./federated-signin.yaml with baseUrl
// http://localhost:3000.
import Koa from "koa";
import { createSignIn, loadConfigFile, type Identity } from "../dist/index.js";

const config = loadConfigFile(process.env.FEDERATED_SIGNIN_CONFIG ?? "federated-signin.yaml");
const signIn = await createSignIn(config);

const app = new Koa();
signIn.mount(app);

app.use(async (ctx) => {
  const identity = ctx.state.identity as Identity | undefined;
  if (!identity) {
    ctx.redirect(`/saml/${config.connections[0]?.id}/login?returnTo=${encodeURIComponent(ctx.path)}`);
    return;
  }
  ctx.body = { hello: identity.name ?? identity.username, groups: identity.groups };
});

app.listen(config.listen.port, config.listen.host);
