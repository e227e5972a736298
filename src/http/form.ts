import type Koa from "koa";
import { SignInError } from "../errors.js";

/**
 * Reads an `application/x-www-form-urlencoded` request body of at most `maxBytes` bytes.
 * Throws BODY_TOO_LARGE past the limit (without buffering the rest) and BAD_REQUEST for
 * another content type.
 */
export async function readForm(ctx: Koa.Context, maxBytes: number): Promise<URLSearchParams> {
  if (!ctx.is("application/x-www-form-urlencoded")) {
    throw new SignInError("BAD_REQUEST", "The request body must be an HTML form post.", {
      logDetails: { contentType: String(ctx.get("content-type")).slice(0, 100) },
    });
  }
  const declared = Number(ctx.get("content-length") || "0");
  if (declared > maxBytes) {
    throw new SignInError("BODY_TOO_LARGE", `The request body is larger than ${maxBytes} bytes.`, {
      logDetails: { contentLength: declared, maxBytes },
    });
  }
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      // Stop reading but keep the socket, so the 413 page still reaches the client.
      ctx.req.off("data", onData);
      ctx.req.pause();
      ctx.set("Connection", "close");
      reject(
        new SignInError("BODY_TOO_LARGE", `The request body is larger than ${maxBytes} bytes.`, {
          logDetails: { maxBytes },
        }),
      );
    };
    ctx.req.on("data", onData);
    ctx.req.once("end", () => resolve(Buffer.concat(chunks)));
    ctx.req.once("error", reject);
  });
  return new URLSearchParams(body.toString("utf8"));
}
