import type { AddressInfo } from "node:net";
import type { ServiceConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { createApp } from "../http/create-sign-in.js";
import { createLogger } from "../logger.js";
import { MemoryStore } from "../session/memory-store.js";

/**
 * Returns the SP metadata XML of SAML connection `id`, exactly as the running service serves it
 * at /saml/:id/metadata (the app serves one request on a temporary loopback port).
 */
export async function printMetadata(config: ServiceConfig, id: string): Promise<string> {
  const connection = config.connections.find((candidate) => candidate.id === id);
  if (!connection || connection.type !== "saml") {
    const samlIds = config.connections.filter((c) => c.type === "saml").map((c) => c.id);
    throw new ConfigError([
      `connection "${id}": no SAML connection has this id; SAML connections: ${samlIds.join(", ") || "none"}`,
    ]);
  }
  const { app, signIn } = await createApp(
    { ...config, connections: [connection] },
    { logger: createLogger("silent"), store: new MemoryStore() },
  );
  const server = app.listen(0, "127.0.0.1");
  try {
    await new Promise<void>((resolve) => server.once("listening", resolve));
    const port = (server.address() as AddressInfo).port;
    const path = `${new URL(config.baseUrl).pathname.replace(/\/+$/, "")}/saml/${id}/metadata`;
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    if (!response.ok) throw new Error(`metadata of ${id} failed with HTTP ${response.status}`);
    return await response.text();
  } finally {
    server.close();
    await signIn.close();
  }
}
