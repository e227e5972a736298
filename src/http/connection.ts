import type Router from "@koa/router";
import type Koa from "koa";
import type { ParsedConnection } from "../config/schema.js";
import { SignInError } from "../errors.js";
import type { SessionRecord } from "../session/session.js";

/** One configured trust relationship with one identity provider, ready to serve requests. */
export interface Connection {
  readonly id: string;
  readonly type: ParsedConnection["type"];
  /** Label of the sign-in button. */
  readonly displayName: string;
  /** Path (relative to baseUrl) that starts a sign-in, with `returnTo` already encoded. */
  loginPath(returnTo: string): string;
  /** Rejects when the connection cannot sign anyone in yet (metadata or discovery not loaded). */
  checkReady(): Promise<void>;
  /**
   * Ends the session at the IdP where the IdP supports it; returns the URL to send the browser
   * to, or undefined. Called after the local session was ended.
   */
  startIdpLogout?(ctx: Koa.Context, record: SessionRecord): Promise<string | undefined>;
  close?(): Promise<void>;
}

/** The connections of a service, by id. */
export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();

  add(connection: Connection): void {
    this.connections.set(connection.id, connection);
  }

  all(): Connection[] {
    return [...this.connections.values()];
  }

  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** Returns the connection of that id and type, or throws CONNECTION_NOT_FOUND. */
  require<T extends Connection>(id: string, type: ParsedConnection["type"]): T {
    const connection = this.connections.get(id);
    if (!connection || connection.type !== type) {
      throw new SignInError("CONNECTION_NOT_FOUND", `No ${type} connection is named "${id}".`, {
        logDetails: { requestedConnection: id.slice(0, 64) },
      });
    }
    return connection as T;
  }
}

/** Adds a protocol's routes to the router; `registry` resolves `:id` to a connection. */
export type RouteInstaller = (router: Router, registry: ConnectionRegistry) => void;
