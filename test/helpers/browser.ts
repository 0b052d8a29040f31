// A real browser for the view's tests: the Chromium that scripts/setup-browser.sh makes sure of
// (LENSGPU_CHROMIUM, or chromium / chromium-browser / google-chrome on PATH), driven headless by
// puppeteer-core (which downloads no browser).
import { execFileSync } from 'node:child_process';
import puppeteer, { type Browser } from 'puppeteer-core';

export function chromiumPath(): string {
  if (process.env.LENSGPU_CHROMIUM) return process.env.LENSGPU_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // not this one
    }
  }
  throw new Error('no Chromium found: run `bash scripts/setup-browser.sh` (make test does), or set LENSGPU_CHROMIUM');
}

export function launchBrowser(): Promise<Browser> {
  // As root (CI containers) Chromium needs --no-sandbox.
  return puppeteer.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--window-size=1280,900'], defaultViewport: { width: 1280, height: 900 } });
}
