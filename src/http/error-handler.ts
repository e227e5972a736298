import type Koa from "koa";
import { ERROR_CODES, SignInError } from "../errors.js";
import type { Logger } from "../logger.js";
import { escapeHtml, renderPage } from "./html.js";

/** Tells whether the client prefers JSON to HTML. */
export function wantsJson(ctx: Koa.Context): boolean {
  return ctx.accepts("html", "json") === "json";
}

/** Sets headers that every page of ours carries. */
export function setPageHeaders(ctx: Koa.Context): void {
  ctx.set("Cache-Control", "no-store");
  ctx.set("X-Content-Type-Options", "nosniff");
  ctx.set("Referrer-Policy", "no-referrer");
  ctx.set(
    "Content-Security-Policy",
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'",
  );
}

function renderErrorPage(error: SignInError, homePath: string): string {
  const title = ERROR_CODES[error.code].title;
  const provider = error.providerMessage
    ? `<h2>Message from the identity provider</h2><p><code>${escapeHtml(error.providerMessage)}</code></p>`
    : "";
  const connection = error.connection
    ? `<dt>Connection</dt><dd><code>${escapeHtml(error.connection)}</code></dd>`
    : "";
  return renderPage(
    `Sign-in failed: ${title}`,
    `<div class="card" role="alert" aria-labelledby="error-title">
<h1 id="error-title">${escapeHtml(title)}</h1>
<div class="error"><p>${escapeHtml(error.message)}</p></div>
<dl>
<dt>Error code</dt><dd><code id="error-code">${escapeHtml(error.code)}</code></dd>
${connection}
</dl>
<h2>How to fix it</h2>
<p id="error-fix">${escapeHtml(error.fix)}</p>
${provider}
<p><a href="${escapeHtml(homePath)}">Back to the sign-in page</a></p>
</div>`,
  );
}

/**
 * Middleware that turns every thrown error into a coded response (HTML, or JSON when the
 * client prefers it) and logs it once. Values sent by the client go to the log only.
 */
export function errorHandler(logger: Logger, homePath: string): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (thrown) {
      const error =
        thrown instanceof SignInError
          ? thrown
          : new SignInError("INTERNAL_ERROR", "The service failed to handle this request.", {
              cause: thrown,
            });
      if (error.code === "INTERNAL_ERROR") {
        logger.error(
          { code: error.code, method: ctx.method, path: ctx.path, err: thrown },
          "request failed",
        );
      } else {
        logger.warn(
          {
            code: error.code,
            connection: error.connection,
            method: ctx.method,
            path: ctx.path,
            ...error.logDetails,
          },
          error.message,
        );
      }
      ctx.status = error.status;
      setPageHeaders(ctx);
      if (wantsJson(ctx)) {
        ctx.body = {
          error: error.code,
          message: error.message,
          fix: error.fix,
          ...(error.connection ? { connection: error.connection } : {}),
          ...(error.providerMessage ? { providerMessage: error.providerMessage } : {}),
        };
      } else {
        ctx.type = "html";
        ctx.body = renderErrorPage(error, homePath);
      }
    }
  };
}
