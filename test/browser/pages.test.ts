/**
 * Checks the pages people look at (sign-in, signed-in, error, and the demo IdP's user picker)
 * in headless Chromium for basic accessibility, and takes their screenshots.
 *
 * Screenshots go to a temporary folder. With UPDATE_SCREENSHOTS=1 they replace the PNGs in
 * docs/screenshots instead.
 */
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "@jest/globals";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startDemo, type RunningDemo } from "../../src/cli/demo.js";
import {
  describeWithBrowser,
  launchChromium,
  newPage,
  pickFreePortRange,
} from "./browser-support.js";

const describeBrowser = describeWithBrowser("page accessibility", { needsPhp: false });

const DOCS_SCREENSHOTS = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../docs/screenshots",
);

const ACCESSIBILITY_CHECKS = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "accessibility-checks.browser.js"),
  "utf8",
);

/** Runs the accessibility checks on the page and returns the problems, or an empty list. */
async function findAccessibilityProblems(page: Page): Promise<string[]> {
  return (await page.evaluate(ACCESSIBILITY_CHECKS)) as string[];
}

/** Presses Tab once and returns the focused element's text and its outline. */
async function tabToFirstControl(page: Page) {
  await page.keyboard.press("Tab");
  // A string, because the TypeScript build has no DOM types (see accessibility-checks.browser.js).
  const [text, outlineStyle, outlineWidth] = (await page.evaluate(
    `(() => {
      const focused = document.activeElement;
      const style = getComputedStyle(focused);
      return [focused.textContent.trim(), style.outlineStyle, parseFloat(style.outlineWidth)];
    })()`,
  )) as [string, string, number];
  return { text, outlineStyle, outlineWidth };
}

describeBrowser("pages in Chromium", () => {
  let browser: Browser;
  let demo: RunningDemo;
  let context: BrowserContext;
  let page: Page;
  let screenshotDir: string;
  const updateDocs = process.env.UPDATE_SCREENSHOTS === "1";

  beforeAll(async () => {
    screenshotDir = updateDocs
      ? DOCS_SCREENSHOTS
      : await mkdtemp(path.join(tmpdir(), "federated-signin-screenshots-"));
    browser = await launchChromium();
    demo = await startDemo({ port: await pickFreePortRange(4), quiet: true });
  }, 60_000);

  afterAll(async () => {
    await demo?.stop();
    await browser?.close();
    if (!updateDocs && screenshotDir) await rm(screenshotDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    ({ context, page } = await newPage(browser));
  });

  afterEach(async () => {
    await context?.close();
  });

  async function screenshot(name: string): Promise<void> {
    // Screenshots show the page as it first appears, without the focus ring of a test.
    await page.evaluate("document.activeElement && document.activeElement.blur()");
    const buffer = await page.screenshot({ path: path.join(screenshotDir, name), fullPage: true });
    // A PNG starts with these 8 bytes.
    expect(buffer.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
  }

  it("sign-in page lists three connections", async () => {
    await page.goto(`${demo.baseUrl}/`);
    const buttons = page.getByRole("list").getByRole("link");
    await expect(buttons.allTextContents()).resolves.toEqual([
      expect.stringContaining("Sign in with Demo Health (SAML, Entra-shaped)SAML 2.0"),
      expect.stringContaining(
        "Sign in with Demo Health (OpenID Connect, Entra-shaped)OpenID Connect",
      ),
      expect.stringContaining(
        "Sign in with Demo EHR (SMART on FHIR standalone launch)SMART on FHIR",
      ),
    ]);
    await expect(findAccessibilityProblems(page)).resolves.toEqual([]);
    const focused = await tabToFirstControl(page);
    expect(focused.text).toContain("Sign in with Demo Health (SAML");
    expect(focused.outlineStyle).toBe("solid");
    expect(focused.outlineWidth).toBeGreaterThanOrEqual(2);
    await screenshot("sign-in.png");
  });

  it("demo IdP picker is accessible", async () => {
    await page.goto(`${demo.baseUrl}/`);
    await page.getByRole("link", { name: /Demo Health \(SAML/ }).click();
    await page.waitForURL(`${demo.samlIdpUrl}/saml2?**`);
    await expect(page.getByRole("button").count()).resolves.toBe(3);
    await expect(findAccessibilityProblems(page)).resolves.toEqual([]);
    await screenshot("demo-saml-idp.png");
  });

  it("signed-in page is accessible", async () => {
    await page.goto(`${demo.baseUrl}/`);
    await page.getByRole("link", { name: /Demo Health \(SAML/ }).click();
    await page.getByRole("button", { name: /Dr\. Alice Nguyen/ }).click();
    await page.waitForURL(`${demo.baseUrl}/`);
    await expect(page.locator(".status").textContent()).resolves.toBe("Signed in");
    await expect(page.getByRole("button", { name: "Sign out", exact: true }).count()).resolves.toBe(
      1,
    );
    await expect(findAccessibilityProblems(page)).resolves.toEqual([]);
    const focused = await tabToFirstControl(page);
    expect(focused.text).toBe("Sign out");
    expect(focused.outlineStyle).toBe("solid");
    await screenshot("signed-in.png");
  });

  it("error page states the failure", async () => {
    await page.goto(`${demo.samlIdpUrl}/idp-initiated`);
    await page.getByRole("button", { name: /Bob Patel/ }).click();
    await page.waitForURL(`${demo.baseUrl}/saml/demo-saml/acs`);
    // The failure is stated in words, not only by the red colour.
    await expect(page.locator(".status").textContent()).resolves.toBe("Sign-in failed");
    await expect(page.locator("#error-code").textContent()).resolves.toBe("SAML_UNSOLICITED");
    await expect(findAccessibilityProblems(page)).resolves.toEqual([]);
    const focused = await tabToFirstControl(page);
    expect(focused.text).toBe("Back to the sign-in page");
    await screenshot("error.png");
  });
});
