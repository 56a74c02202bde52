import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

/**
 * Debian's chromium driven by playwright-core (no browser download): scripts/setup installs
 * /usr/bin/chromium. Each page records its console messages, so a test can assert that no
 * Content-Security-Policy violation or script error happened.
 *
 * @example
 * const b = await launchChromium();
 * const { page, console } = await b.page();
 * await b.close();
 */
export const CHROMIUM = process.env.OTA_CHROMIUM ?? '/usr/bin/chromium';

/** Where the browser tests write their screenshots (git-ignored). */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard');

export interface TestBrowser {
  browser: Browser;
  page: (o?: { width?: number; height?: number }) => Promise<{ page: Page; console: string[] }>;
  close: () => Promise<void>;
}

export async function launchChromium(): Promise<TestBrowser> {
  // --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  return {
    browser,
    page: async (o = {}) => {
      const context = await browser.newContext({ viewport: { width: o.width ?? 1280, height: o.height ?? 900 } });
      const page = await context.newPage();
      const console: string[] = [];
      page.on('console', (m: ConsoleMessage) => console.push(`${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
      return { page, console };
    },
    close: () => browser.close(),
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
