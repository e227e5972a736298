// Minimal typings for the parts of oidc-provider 9 that the demo uses. oidc-provider ships no
// type declarations; adding @types/oidc-provider as a dev dependency would replace this file.
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";
  import type Koa from "koa";

  export type Configuration = Record<string, unknown> & {
    interactions?: { url: (ctx: Koa.Context, interaction: { uid: string }) => string };
    findAccount?: (
      ctx: Koa.Context,
      sub: string,
    ) => Promise<{ accountId: string; claims: () => Promise<Record<string, unknown>> } | undefined>;
  };

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string };
    params: Record<string, unknown>;
    session?: { accountId?: string };
  }

  export interface Grant {
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }

  export default class Provider extends Koa {
    constructor(issuer: string, configuration: Configuration);
    Grant: new (properties: { accountId: string; clientId: string }) => Grant;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
  }
}
