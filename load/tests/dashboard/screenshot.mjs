// Opens goose's live dashboard in Debian's Chromium while a load run goes, waits until it shows
// live figures (users and requests per second above zero), takes a screenshot, and prints what
// it read as JSON. Usage: node screenshot.mjs DASHBOARD_URL SCREENSHOT.png
// No browser download: Playwright drives /usr/bin/chromium (override with CHROMIUM).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node screenshot.mjs DASHBOARD_URL SCREENSHOT.png');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'load-dashboard-chromium-'));
// A new, empty profile (Playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  // As root (CI) Chromium needs --no-sandbox; the rest keeps it off the network and quiet.
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  timeout: 60_000,
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
  const number = (text) => Number.parseFloat(String(text).replace(/[^0-9.]/g, ''));
  // Live figures: the page has connected to the run and shows requests flowing.
  await page.waitForFunction(() => {
    const read = (id) => Number.parseFloat((document.getElementById(id)?.textContent || '').replace(/[^0-9.]/g, ''));
    return read('kpi-users') > 0 && read('kpi-rps') > 0;
  }, null, { timeout: 30_000, polling: 200 });
  const figures = {
    users: number(await page.textContent('#kpi-users')),
    rps: number(await page.textContent('#kpi-rps')),
    p95: (await page.textContent('#kpi-p95'))?.trim(),
    phase: (await page.textContent('#phase-badge'))?.trim(),
  };
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(JSON.stringify(figures));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
