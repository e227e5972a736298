import type Koa from "koa";
import { ERROR_CODES, SignInError } from "../errors.js";
import type { Logger } from "../logger.js";
import { ICONS, escapeHtml, renderPage } from "./html.js";

/** Tells whether the client prefers JSON to HTML. */
export function wantsJson(ctx: Koa.Context): boolean {
  return ctx.accepts("html", "json") === "json";
}

/** Sets headers that every page of ours carries. */
export function setPageHeaders(ctx: Koa.Context): void {
  ctx.set("Cache-Control", "no-store");
  ctx.set("X-Content-Type-Options", "nosniff");
  // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with the
  // same-origin form POST of the Sign out button, and POST /logout rejects a null Origin.
  // Requests to other sites (the IdPs) still carry no Referer.
  ctx.set("Referrer-Policy", "same-origin");
  ctx.set(
    "Content-Security-Policy",
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'",
  );
}

function renderErrorPage(error: SignInError, homePath: string): string {
  const title = ERROR_CODES[error.code].title;
  const provider = error.providerMessage
    ? `<h2>Message from the identity provider</h2>
<p><code id="provider-message">${escapeHtml(error.providerMessage)}</code></p>`
    : "";
  const connection = error.connection
    ? `<dt>Connection</dt><dd><code id="error-connection">${escapeHtml(error.connection)}</code></dd>`
    : "";
  return renderPage(
    `Sign-in failed: ${title}`,
    `<div class="card">
<p class="status status-error">${ICONS.error}<span>Sign-in failed</span></p>
<h1 id="error-title">${escapeHtml(title)}</h1>
<p class="message" id="error-message">${escapeHtml(error.message)}</p>
<h2>How to fix it</h2>
<p id="error-fix">${escapeHtml(error.fix)}</p>
${provider}
<h2 id="error-details-heading">Details for your administrator</h2>
<dl class="facts" aria-labelledby="error-details-heading">
<dt>Error code</dt><dd><code id="error-code">${escapeHtml(error.code)}</code></dd>
${connection}
</dl>
<div class="actions"><a class="primary" href="${escapeHtml(homePath)}">Back to the sign-in page</a></div>
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
