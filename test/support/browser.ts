// Headless Chromium for end-to-end tests of the web console: Debian's /usr/bin/chromium driven by
// playwright-core, which never downloads a browser. Each launch gets a fresh profile folder, and
// the flags keep the browser from reaching anywhere but the test server (no updates, no sync).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Tests that need a browser skip when there is none (CI installs Debian's chromium). */
export const hasChromium = existsSync(CHROMIUM_PATH);

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export interface TestBrowser {
  readonly context: BrowserContext;
  /** A new tab whose console errors, uncaught exceptions and CSP violations are collected. */
  newPage(): Promise<Page>;
  /** What went wrong in any page so far (console errors, uncaught exceptions). */
  readonly errors: string[];
  close(): Promise<void>;
}

export async function launchBrowser(opts: { viewport?: { width: number; height: number }; stepTimeoutMs?: number } = {}): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'warden-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: opts.viewport ?? { width: 1360, height: 820 },
    locale: 'en-US',
    // Fixed, so screenshots and formatted times do not depend on the machine.
    timezoneId: 'UTC',
  });
  // Fail a step in seconds with a message naming what was awaited, well before the test's timeout.
  context.setDefaultTimeout(opts.stepTimeoutMs ?? 10_000);
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (msg) => {
      // 4xx answers the console expects (a 403 shown to an auditor) are logged by Chromium as
      // "Failed to load resource"; they are part of the scenario, not faults.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  };
  for (const page of context.pages()) watch(page);
  context.on('page', watch);
  return {
    context,
    errors,
    newPage: async () => context.newPage(),
    close: async () => {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}
