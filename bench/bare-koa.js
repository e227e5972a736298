// Benchmark child: a bare Koa app whose only handler returns 200, the /auth baseline.
import http from "node:http";
import Koa from "koa";
import { serveCommands } from "./lib.js";

const app = new Koa();
app.use((ctx) => {
  ctx.set("X-Auth-Request-User", "bench");
  ctx.body = "";
  ctx.status = 200;
});
const server = http.createServer(app.callback());
server.keepAliveTimeout = 30_000;
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
serveCommands({});
process.send({ type: "ready", baseUrl: `http://127.0.0.1:${server.address().port}` });
