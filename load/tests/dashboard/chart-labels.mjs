// Opens an SVG chart of the load tool in Debian's Chromium, as a person would, takes a screenshot and prints
// every text element's words, class and box (as the browser laid it out) as JSON, for tests/charts.rs to check
// that the labels are inside the picture, apart from each other, and say the right things.
// Usage: node chart-labels.mjs CHART.svg SCREENSHOT.png
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [chart, screenshot] = process.argv.slice(2);
if (!chart || !screenshot) {
  console.error('usage: node chart-labels.mjs CHART.svg SCREENSHOT.png');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'load-chart-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1000, height: 800 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  timeout: 60_000,
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  await page.goto(pathToFileURL(resolve(chart)).href, { waitUntil: 'load', timeout: 30_000 });
  const read = await page.evaluate(() => {
    const svg = document.querySelector('svg');
    const frame = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map((text) => {
      const box = text.getBoundingClientRect();
      return {
        text: text.textContent,
        class: text.getAttribute('class') || '',
        anchor: text.getAttribute('text-anchor') || 'start',
        x: box.x - frame.x, y: box.y - frame.y, width: box.width, height: box.height,
      };
    });
    return { width: frame.width, height: frame.height, texts, lines: svg.querySelectorAll('polyline').length };
  });
  // The whole picture: the viewport set to the chart's own size (an SVG document has no page to scroll).
  await page.setViewportSize({ width: Math.ceil(read.width), height: Math.ceil(read.height) });
  await page.screenshot({ path: screenshot, timeout: 90_000 });
  console.log(JSON.stringify(read));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
