// Opens bando viewer URLs in headless Chromium (software WebGL), one after the other in one
// browser, waits until each map is idle, saves a screenshot and prints one JSON line per view: the
// rendered label texts, the style layers that drew something, the names each layer drew, and any
// page errors. Usage: node screenshot.mjs <page-url> <out.png> [<page-url> <out.png> ...]
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (args.length < 2 || args.length % 2 !== 0) {
  console.error('usage: node screenshot.mjs <page-url> <out.png> [<page-url> <out.png> ...]');
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
  for (let i = 0; i < args.length; i += 2) {
    const [url, out] = [args[i], args[i + 1]];
    errors.length = 0;
    // A fresh page per view: the hash alone would not reload the style.
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForFunction(() => document.title === 'IDLE', null, { timeout: 60000 });
    await page.screenshot({ path: out });
    const rendered = await page.evaluate(() => {
      const features = window.map.queryRenderedFeatures();
      const labels = new Set();
      const layers = new Set();
      const named = {};
      for (const f of features) {
        layers.add(f.layer.id);
        const name = f.properties.name;
        if (!name) continue;
        if (f.layer.type === 'symbol') labels.add(name);
        (named[f.layer.id] ??= new Set()).add(name);
      }
      const names = Object.fromEntries(Object.entries(named).map(([k, v]) => [k, [...v].sort()]));
      return { labels: [...labels].sort(), layers: [...layers].sort(), named: names };
    });
    console.log(JSON.stringify({ ...rendered, errors }));
  }
} catch (error) {
  // Page errors usually say why the map never went idle.
  const seen = errors.length ? ` (page errors: ${JSON.stringify(errors)})` : '';
  console.error(`screenshot failed: ${String(error).split('\n')[0]}${seen}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
