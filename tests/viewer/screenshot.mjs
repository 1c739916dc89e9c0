// Opens a bando viewer URL in headless Chromium (software WebGL), waits until the map is idle,
// saves a screenshot and prints one JSON line: the rendered label texts, the style layers that
// drew something, and any page errors. Usage: node screenshot.mjs <page-url> <out.png>
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node screenshot.mjs <page-url> <out.png>');
  process.exit(2);
}
// playwright-core is installed with the viewer's packages.
const viewerPackage = fileURLToPath(new URL('../../viewer/package.json', import.meta.url));
const { chromium } = createRequire(viewerPackage)('playwright-core');

const profile = mkdtempSync(join(tmpdir(), 'bando-chromium-'));
const errors = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1024, height: 768 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader',
      '--disable-background-networking', '--no-first-run', '--disable-quic',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => document.title === 'IDLE', null, { timeout: 60000 });
  await page.screenshot({ path: out });
  const rendered = await page.evaluate(() => {
    const features = window.map.queryRenderedFeatures();
    const labels = new Set();
    const layers = new Set();
    for (const f of features) {
      layers.add(f.layer.id);
      if (f.layer.type === 'symbol' && f.properties.name) labels.add(f.properties.name);
    }
    return { labels: [...labels].sort(), layers: [...layers].sort() };
  });
  console.log(JSON.stringify({ ...rendered, errors }));
} catch (error) {
  // Page errors usually say why the map never went idle.
  const seen = errors.length ? ` (page errors: ${JSON.stringify(errors)})` : '';
  console.error(`screenshot failed: ${String(error).split('\n')[0]}${seen}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
