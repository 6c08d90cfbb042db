// Drives Debian's Chromium with playwright-core for the web interface tests: a browser context per
// identity (anonymous, or a user's certificate presented by Playwright's clientCertificates), and
// screenshots saved under test-output/screenshots/ as artifacts.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { TestServer } from "../support/server.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The machine has no network: without these, Chromium keeps trying to reach Google services.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

export const WIDE = { width: 1280, height: 900 };
export const NARROW = { width: 390, height: 844 };

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
}

/** The page origin: localhost matches the host certificate's SAN. */
export const origin = (t: TestServer) => `https://localhost:${t.port}`;

/**
 * A browser context that presents `user`'s certificate from the fixture PKI (users/<user>/), or
 * none. The test CA is not in Chromium's store, so the server certificate is accepted as is; the
 * server validates the client chain itself.
 */
export async function contextFor(browser: Browser, t: TestServer, user: string | null, viewport = WIDE): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport,
    ...(user ? { clientCertificates: [{ origin: origin(t), certPath: t.cred(user).cert, keyPath: t.cred(user).key }] } : {}),
  });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

/** Everything the page logged to the console as an error, and uncaught exceptions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Failed API calls are expected in denial tests and are shown on the page.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** Open a route of the web interface (e.g. "#/images/alice/x") and wait until it has drawn. */
export async function open(page: Page, t: TestServer, hash = "#/"): Promise<void> {
  await page.goto(`${origin(t)}/${hash}`);
  // A new hash on the same page renders without a page load: wait for that render to finish.
  await page.waitForFunction((h) => document.documentElement.dataset.rendered === h, hash);
}

function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "web"))) return dir;
  }
  throw new Error("cannot find the repository root");
}

export const SCREENSHOTS = join(repoRoot(), "test-output", "screenshots");

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

