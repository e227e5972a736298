import type { Server } from "node:http";
import type Koa from "koa";
import type { SignIn } from "../http/create-sign-in.js";
import type { Logger } from "../logger.js";

/** Listens on `listen` and closes the server and the service on SIGINT or SIGTERM. */
export async function serve(
  app: Koa,
  signIn: SignIn,
  listen: { host: string; port: number },
  logger: Logger,
): Promise<Server> {
  const server = app.listen(listen.port, listen.host);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  logger.info(
    { host: listen.host, port: listen.port, baseUrl: signIn.services.baseUrl },
    "federated-signin started",
  );
  const shutdown = (signal: string) => {
    logger.info({ signal }, "federated-signin stopping");
    server.close(() => {
      void signIn.close().finally(() => process.exit(0));
    });
    // Keep-alive connections may hold the server open; end them after a grace period.
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  return server;
}
