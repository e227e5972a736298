import type Koa from "koa";
import { MemorySink } from "../../src/audit/audit.js";
import request from "supertest";
import { parseConfig } from "../../src/config/load.js";
import type { ServiceConfigInput } from "../../src/config/schema.js";
import { createApp } from "../../src/http/create-sign-in.js";
import type { SignIn, SignInOptions } from "../../src/http/create-sign-in.js";

/** Cookie signing key of the test services (at least 32 characters). */
export const TEST_SESSION_KEY = "test-session-key-0123456789abcdef0123456789";

/** A minimal cookie jar: name → value, filled from Set-Cookie headers. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Stores the cookies of a response's Set-Cookie headers; an expired cookie is removed. */
  store(setCookie: string[] | string | undefined | null): void {
    const headers = setCookie === undefined || setCookie === null ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
    for (const header of headers) {
      const [pair] = header.split(";");
      const index = pair?.indexOf("=") ?? -1;
      if (!pair || index < 1) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (value === "" || /expires=Thu, 01 Jan 1970/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** A copy, e.g. to act as a second browser that has the same cookies. */
  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [name, value] of this.cookies) copy.cookies.set(name, value);
    return copy;
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }
}

/** Builds a test service from connection configs; baseUrl is a loopback http URL. */
export async function startService(
  connections: ServiceConfigInput["connections"],
  options: SignInOptions = {},
): Promise<{ app: Koa; signIn: SignIn; baseUrl: string; audit: MemorySink }> {
  const baseUrl = "http://127.0.0.1:8080";
  const audit = new MemorySink();
  const config = parseConfig({
    baseUrl,
    logLevel: "silent",
    session: { keys: [TEST_SESSION_KEY] },
    connections,
  });
  const { app, signIn } = await createApp(config, { auditSink: audit, ...options });
  return { app, signIn, baseUrl, audit };
}

/** Sends GET `path` to the app with the jar's cookies and stores the response cookies. */
export async function appGet(app: Koa, jar: CookieJar, path: string, json = true) {
  const req = request(app.callback()).get(path).set("Cookie", jar.header());
  if (json) req.set("Accept", "application/json");
  const response = await req;
  jar.store(response.headers["set-cookie"] as unknown as string[] | undefined);
  return response;
}

/** Sends a form POST to the app with the jar's cookies and stores the response cookies. */
export async function appPostForm(app: Koa, jar: CookieJar, path: string, fields: Record<string, string>) {
  const response = await request(app.callback())
    .post(path)
    .set("Cookie", jar.header())
    .set("Accept", "application/json")
    .type("form")
    .send(fields);
  jar.store(response.headers["set-cookie"] as unknown as string[] | undefined);
  return response;
}

/** Path and query of an absolute URL at the app's baseUrl. */
export function appPath(url: string, baseUrl: string): string {
  if (!url.startsWith(baseUrl)) throw new Error(`expected a URL under ${baseUrl}, got ${url}`);
  return url.slice(baseUrl.length);
}

/** Sends GET to a provider on loopback without following redirects, with the provider's jar. */
export async function providerGet(url: string, jar: CookieJar): Promise<Response> {
  const response = await fetch(url, { redirect: "manual", headers: { cookie: jar.header() } });
  jar.store(response.headers.getSetCookie());
  return response;
}

/** Result of an authorization request at the provider: the response to our callback. */
export type ProviderResult =
  | { kind: "redirect"; location: string }
  | { kind: "form_post"; action: string; fields: Record<string, string> };

/** Reads the auto-submitting form of a form_post response. */
export function parseFormPost(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/i.exec(html)?.[1];
  if (!action) throw new Error(`no form in the provider's response: ${html.slice(0, 200)}`);
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) {
    fields[decodeHtml(match[1] ?? "")] = decodeHtml(match[2] ?? "");
  }
  return { action: decodeHtml(action), fields };
}

function decodeHtml(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/**
 * Follows the provider's redirects from the authorization URL, choosing `user` on the demo
 * provider's interaction page, until the provider sends the browser back to `callbackPrefix`.
 */
export async function followProvider(
  authorizationUrl: string,
  callbackPrefix: string,
  user: string,
  jar = new CookieJar(),
): Promise<ProviderResult> {
  let url = authorizationUrl;
  for (let step = 0; step < 10; step += 1) {
    if (url.startsWith(callbackPrefix)) return { kind: "redirect", location: url };
    const interaction = /\/interaction\/([\w-]+)$/.exec(new URL(url).pathname);
    if (interaction) url = `${url}/login?user=${user}`;
    const response = await providerGet(url, jar);
    const location = response.headers.get("location");
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const body = await response.text();
    if (response.status === 200 && body.includes("<form")) {
      return { kind: "form_post", ...parseFormPost(body) };
    }
    throw new Error(`provider answered ${response.status} at ${url}: ${body.slice(0, 300)}`);
  }
  throw new Error("too many redirects at the provider");
}

/** Asserts through GET /session that the jar has no session (401). */
export async function sessionStatus(app: Koa, jar: CookieJar): Promise<number> {
  const response = await appGet(app, jar, "/session");
  return response.status;
}
