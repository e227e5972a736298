/**
 * Shared setup of the browser tests: headless Chromium from Debian driven by playwright-core,
 * free loopback ports, and reads of `/session` through the browser. See docs/browser-tests.md.
 */
import { describe, expect } from "@jest/globals";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Chromium of the Debian package `chromium`. The tests never download a browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Flags for a quiet, isolated headless run. The background-networking, component-update and
 * sync flags keep Chromium from calling Google services, so every request stays on loopback.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Viewport of every page, also the size of the screenshots in docs/screenshots. */
export const VIEWPORT = { width: 1000, height: 700 };

/** Returns why the browser tests cannot run here (Chromium or php missing), or null. */
export function browserUnavailableReason(options: { needsPhp: boolean }): string | null {
  if (!existsSync(CHROMIUM_PATH)) {
    return `${CHROMIUM_PATH} not found (install the Debian package chromium, e.g. with test/peers/install-peers.sh)`;
  }
  if (options.needsPhp) {
    const pathEntries = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
    if (!pathEntries.some((entry) => existsSync(join(entry, "php")))) {
      return "php is not on PATH (install php-cli, e.g. with test/peers/install-peers.sh)";
    }
  }
  return null;
}

/**
 * Returns `describe`, or `describe.skip` with a warning when Chromium or php is missing and the
 * CI environment variable is unset. In CI a missing package makes the tests fail instead.
 */
export function describeWithBrowser(
  suite: string,
  options: { needsPhp: boolean },
): typeof describe | typeof describe.skip {
  const reason = browserUnavailableReason(options);
  if (reason !== null && !process.env.CI) {
    console.warn(`Skipping browser tests "${suite}": ${reason}`);
    return describe.skip;
  }
  return describe;
}

/** Starts headless Chromium. Playwright gives it a new temporary user-data folder. */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
}

/** Opens a fresh context (no cookies, no storage) with one page. */
export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: VIEWPORT, locale: "en-US" });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  return { context, page };
}

/** Opens a listener on 127.0.0.1 port 0, closes it and returns the port the OS assigned. */
export async function pickFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      if (address === null || typeof address === "string") {
        probe.close();
        reject(new Error("Failed to pick a free port: the listener has no TCP address"));
        return;
      }
      probe.close(() => resolve(address.port));
    });
  });
}

/**
 * Picks a port P whose next `count - 1` ports look free too, for startDemo, which listens on P
 * and on P+1 to P+3. Another process may still take one before the demo binds it.
 */
export async function pickFreePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const first = await pickFreePort();
    if (first + count - 1 > 65_535) continue;
    let allFree = true;
    for (let offset = 1; offset < count && allFree; offset += 1) {
      allFree = await isPortFree(first + offset);
    }
    if (allFree) return first;
  }
  throw new Error(`Failed to find ${count} consecutive free ports on 127.0.0.1 in 20 attempts`);
}

async function isPortFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** Result of opening `/session` in the browser. */
export interface BrowserSession {
  status: number;
  /** The JSON document as the browser received it. */
  text: string;
  body: {
    identity?: Record<string, unknown> & { smart?: Record<string, unknown> };
    expiresAt?: string;
    error?: string;
  };
}

/** Navigates `page` to `<baseUrl>/session` and returns the status and the JSON body. */
export async function openSession(page: Page, baseUrl: string): Promise<BrowserSession> {
  const response = await page.goto(`${baseUrl}/session`);
  expect(response).not.toBeNull();
  const text = await response!.text();
  return { status: response!.status(), text, body: JSON.parse(text) as BrowserSession["body"] };
}
