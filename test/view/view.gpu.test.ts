// `lensgpu view` over HTTP: two runs trained by the command line on the parity data (with
// problems and chains of thought) and a broken run folder. The pages show each run's records;
// a cell's examples come from the view's own evaluation of the best lens, which must agree with
// the run's metrics; an example's grid is `lensgpu trajectory --format json`'s (with the lens,
// and the logit lens); a run that writes an epoch changes its version; and the server refuses
// foreign Host headers, paths outside its routes, writes, and (on another address) requests
// without its token. Then the same in a real browser: clicking through the pages, and an open
// run page that follows its run.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTokenizers } from '../../src/view/runData.ts';
import { startView, type ViewServer } from '../../src/view/server.ts';
import { cli, cliAsync } from '../helpers/cli.ts';
import { openTestGpu } from '../helpers/gpu.ts';
import { launchBrowser } from '../helpers/browser.ts';
import type { Browser, Page } from 'puppeteer-core';

const test = suite('view');
const DATA = new URL('../../fixtures/data/parity/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'lensgpu-view-'));
const runs = join(tmp, 'runs');
const data = ['--train', join(DATA, 'train_ext.safetensors'), '--test', join(DATA, 'test_ext.safetensors'), '--head', join(DATA, 'head.safetensors')];

for (const [name, preset] of [['lite-run', 'lite'], ['baseline-run', 'baseline']]) {
  const r = cli('train', ...data, '--preset', preset!, '--epochs', '2', '--batch-size', '24', '--quiet', '--no-checkpoint', '--out', join(runs, name!));
  if (r.status !== 0) throw new Error(`training ${name} failed: ${r.stderr}`);
}
// The built-in demo (synthetic data, found again from its shape), and a run whose data has moved.
const demo = cli('train', '--epochs', '1', '--quiet', '--no-checkpoint', '--out', join(runs, 'demo'));
if (demo.status !== 0) throw new Error(`training the demo failed: ${demo.stderr}`);
cpSync(join(runs, 'lite-run'), join(runs, 'moved-run'), { recursive: true });
const movedConfig = JSON.parse(readFileSync(join(runs, 'moved-run', 'config.json'), 'utf8'));
movedConfig.data.test.path = join(tmp, 'elsewhere', 'test_ext.safetensors');
writeFileSync(join(runs, 'moved-run', 'config.json'), JSON.stringify(movedConfig));
mkdirSync(join(runs, 'broken'));
cpSync(join(runs, 'lite-run', 'config.json'), join(runs, 'broken', 'config.json'));
writeFileSync(join(runs, 'broken', 'metrics.json'), '{"epochs": [');

let server: ViewServer;
const get = (path: string, headers: Record<string, string> = {}) => fetch(new URL(path, server.url), { headers, redirect: 'manual' });
const text = async (path: string) => {
  const r = await get(path);
  assert.is(r.status, 200, `${path}: ${r.status}`);
  return r.text();
};
const metrics = (run: string) => JSON.parse(readFileSync(join(runs, run, 'metrics.json'), 'utf8'));

test.before(async () => {
  server = await startView({ paths: [runs], host: '127.0.0.1', port: 0, openGpu: () => openTestGpu(), tokensOf: runTokenizers(undefined) });
});

test('the runs page: each run with its best epoch, the broken one with its error', async () => {
  const html = await text('/');
  const best = metrics('lite-run').epochs.find((e: { epoch: number }) => e.epoch === metrics('lite-run').best_epoch);
  assert.match(html, /<a href="\/run\/lite-run">lite-run<\/a>/);
  assert.match(html, /<a href="\/run\/baseline-run">baseline-run<\/a>/);
  assert.ok(html.includes(best.val_loss.toFixed(4)), 'the best val loss');
  assert.match(html, /broken<\/a>.*metrics\.json: not valid JSON/s);
  // Sorted by top-1, best first: the order of the two runs follows their top-1.
  const sorted = await text('/?sort=top1');
  const order = ['lite-run', 'baseline-run'].sort((a, b) => top1(b) - top1(a));
  assert.ok(sorted.indexOf(`/run/${order[0]}"`) < sorted.indexOf(`/run/${order[1]}"`), 'sorted by top-1');
});

const top1 = (run: string) => metrics(run).epochs.find((e: { epoch: number }) => e.epoch === metrics(run).best_epoch).top1;

test('a run page: curves, the heatmap (its cells open their examples), a metric toggle; compare', async () => {
  const html = await text('/run/lite-run');
  assert.match(html, /data-cell-href="\/run\/lite-run\/cell"/);
  assert.match(html, /data-series="val loss"/);
  assert.is((html.match(/class="cell" data-metric="top1"/g) ?? []).length, metrics('lite-run').per_group.filter((c: { count: number }) => c.count > 0).length);
  assert.is((await text('/run/lite-run?metric=top5')).match(/data-metric="top1"/), null);
  assert.match(await text('/run/lite-run?metric=loss'), /data-metric="loss"/);
  const both = await text('/compare?runs=lite-run&runs=baseline-run');
  assert.match(both, /data-run="lite-run"/);
  assert.match(both, /data-run="baseline-run"/);
});

/** The cells of a page's samples table, row by row, as text. */
const sampleRows = (html: string) =>
  [...html.slice(html.indexOf('<table id="samples')).split('</table>')[0]!.matchAll(/<tr>(.*?)<\/tr>/g)].slice(1).map((r) => [...r[1]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]!.replace(/<[^>]+>/g, '')));

for (const run of ['lite-run', 'demo']) {
  test(`a cell's examples (${run}): the view's own evaluation of the best lens agrees with the run's metrics`, async () => {
    // The first request starts the evaluation; the page shows progress until it is done.
    for (let i = 0; i < 1200 && (await text(`/run/${run}/samples`)) !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.is(await text(`/run/${run}/samples`), 'ready');
    for (const cell of metrics(run).per_group.filter((c: { count: number }) => c.count > 0).slice(0, 6)) {
      const rows = sampleRows(await text(`/run/${run}/cell?layer=${cell.layer}&position=${cell.position}`));
      assert.is(rows.length, cell.count, `layer ${cell.layer}, position ${cell.position}: rows`);
      assert.is(rows.filter((r) => r[3] === '0').length, Math.round(cell.top1 * cell.count), `layer ${cell.layer}, position ${cell.position}: top-1`);
    }
    assert.match(readFileSync(join(runs, run, 'view-cache', 'samples.json'), 'utf8'), /"loss":\[/);
  });
}

test('a run whose data has moved: its page shows, its cells say where the data went', async () => {
  assert.match(await text('/run/moved-run'), /data-cell-href/);
  for (let i = 0; i < 100 && (await text('/run/moved-run/samples')) === 'computing'; i++) await new Promise((r) => setTimeout(r, 50));
  const r = await get('/run/moved-run/cell?layer=0&position=0');
  assert.is(r.status, 500);
  assert.match(await r.text(), /elsewhere\/test_ext\.safetensors: not found \(the run's data has moved\?\); the metrics still show/);
});

test("an example's grid is lensgpu trajectory's, with the run's lens and with the logit lens", async () => {
  const example = 100; // the test set's problems are 100 and 101
  for (const [query, lensArgs] of [['', ['--lens', join(runs, 'lite-run', 'lens.safetensors')]], ['?lens=none', ['--no-lens']]] as const) {
    const html = await text(`/run/lite-run/example/${example}${query}`);
    const r = cli('trajectory', '--data', join(DATA, 'test_ext.safetensors'), '--head', join(DATA, 'head.safetensors'), '--example', String(example), ...lensArgs, '--format', 'json');
    assert.is(r.status, 0, r.stderr);
    const want = (JSON.parse(r.stdout) as { cells: { layer: number; position: number; top: { id: number; p: number }[] }[] }).cells;
    const got = [...html.matchAll(/class="cell" data-layer="(\d+)" data-position="(\d+)" data-token="(\d+)" data-p="([^"]+)"/g)];
    assert.is(got.length, want.length, `${query || 'lens'}: cells`);
    for (const [i, m] of got.entries()) {
      const w = want.find((c) => c.layer === Number(m[1]) && c.position === Number(m[2]))!;
      assert.is(Number(m[3]), w.top[0]!.id, `${query || 'lens'} cell ${i}: token`);
      assert.ok(Math.abs(Number(m[4]) - w.top[0]!.p) < 1e-6, `${query || 'lens'} cell ${i}: probability`);
    }
  }
  // The chain of thought, and another run's lens.
  assert.match(await text(`/run/lite-run/example/${example}`), /chain of thought/);
  assert.match(await text(`/run/lite-run/example/${example}?lens=baseline-run`), /through baseline-run's lens/);
});

test('refused: a foreign Host header, paths outside the routes, writes, unknown runs', async () => {
  // A page on evil.example that resolves to 127.0.0.1 sends its own name (fetch cannot set Host: node:http can).
  const foreign = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(new URL('/', server.url), { headers: { host: 'evil.example:80' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject).end();
  });
  assert.is(foreign.status, 403);
  assert.match(foreign.body, /Host 'evil\.example:80' is not this server's/);
  for (const path of ['/../../etc/passwd', '/run/..%2F..%2Fetc', '/run/lite-run/../../config.json', '/assets/', '/lite-run/config.json']) {
    const r = await get(path);
    assert.is(r.status, 404, `${path}: ${r.status}`);
    assert.not.match(await r.text(), /"settings"/);
  }
  const post = await fetch(new URL('/', server.url), { method: 'POST' });
  assert.is(post.status, 405);
  assert.is((await get('/run/nonesuch')).status, 404);
  assert.is((await get('/run/broken')).status, 500);
});

test('on another address: a warning token in the URL, needed once, then kept in a cookie', async () => {
  const other = await startView({ paths: [join(runs, 'lite-run')], host: '0.0.0.0', port: 0, openGpu: () => openTestGpu(), tokensOf: () => undefined });
  try {
    const url = new URL(other.url);
    assert.match(url.search, /^\?token=[0-9a-f]{32}$/);
    const bare = new URL('/', url);
    assert.is((await fetch(bare)).status, 403);
    const first = await fetch(url);
    assert.is(first.status, 200);
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    assert.is((await fetch(bare, { headers: { cookie } })).status, 200);
  } finally {
    await other.close();
  }
});

test('the command: prints its URL and serves until Ctrl-C; a folder without runs or a port in use is one line', async () => {
  const run = cliAsync('view', runs);
  for (let i = 0; i < 200 && !/http:\/\/\S+/.test(run.stdout()); i++) await new Promise((r) => setTimeout(r, 50));
  const url = /lensgpu view: (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C stops it\)/.exec(run.stdout())?.[1];
  assert.ok(url, run.stdout());
  assert.match(await (await fetch(url!)).text(), /lite-run/);
  run.child.kill('SIGINT');
  assert.is((await run.done).status, 0);
  const none = cli('view', tmp + '/nothing-here');
  assert.is(none.status, 1);
  assert.match(none.stderr, /^lensgpu: \S+nothing-here: no such folder$/);
  const busy = cli('view', runs, '--port', new URL(server.url).port);
  assert.is(busy.status, 1);
  assert.match(busy.stderr, /^lensgpu: port \d+ is in use \(leave --port out for a free one\)$/);
});

// ---- in a real browser (Chromium, headless) ----

let browser: Browser;
/** A screenshot of the page into $LENSGPU_SCREENSHOTS (the README's pictures), where set. */
const shoot = async (page: Page, name: string) => {
  const dir = process.env.LENSGPU_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
};

test('in a browser: runs, a run, a heatmap cell, a filter, an example, the logit lens', async () => {
  browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(server.url);
  assert.is(await page.$$eval('#runs tbody tr', (rows) => rows.length), 5);
  await Promise.all([page.waitForNavigation(), page.click('a[href="/run/lite-run"]')]);
  // A click on a heatmap cell opens its examples.
  await Promise.all([page.waitForNavigation(), page.click('g.cell[data-metric="top1"][data-layer="1"][data-position="2"] rect')]);
  const url = new URL(page.url());
  assert.equal([url.pathname, url.searchParams.get('layer'), url.searchParams.get('position')], ['/run/lite-run/cell', '1', '2']);
  const rows = await page.$$eval('table[id^=samples] tbody tr', (r) => r.length);
  assert.is(rows, metrics('lite-run').per_group.find((c: { layer: number; position: number }) => c.layer === 1 && c.position === 2).count);
  // The filter narrows the rows to those whose text has it, and keeps it in the URL.
  const target = await page.$eval('table[id^=samples] tbody tr td:nth-child(2)', (td) => td.textContent!.trim());
  await page.type('input[data-filter]', target);
  const shown = await page.$$eval('table[id^=samples] tbody tr', (r) => r.filter((row) => !(row as HTMLElement).hidden).map((row) => row.textContent!));
  assert.ok(shown.length >= 1 && shown.every((t) => t.includes(target)), `${shown.length} rows shown for '${target}'`);
  assert.is(new URL(page.url()).searchParams.get('q'), target);
  // An example: its grid as lensgpu trajectory draws it, then through the logit lens.
  await Promise.all([page.waitForNavigation(), page.click('table[id^=samples] tbody tr:not([hidden]) a')]);
  const example = Number(new URL(page.url()).pathname.split('/').at(-1));
  const grid = () => page.$$eval('g.cell[data-token]', (cells) => cells.map((c) => [c.getAttribute('data-layer'), c.getAttribute('data-position'), c.getAttribute('data-token')].join(',')));
  const want = (lensArgs: string[]) => {
    const r = cli('trajectory', '--data', join(DATA, 'test_ext.safetensors'), '--head', join(DATA, 'head.safetensors'), '--example', String(example), ...lensArgs, '--format', 'json');
    return (JSON.parse(r.stdout) as { cells: { layer: number; position: number; top: { id: number }[] }[] }).cells.map((c) => `${c.layer},${c.position},${c.top[0]!.id}`);
  };
  assert.equal((await grid()).sort(), want(['--lens', join(runs, 'lite-run', 'lens.safetensors')]).sort());
  await Promise.all([page.waitForNavigation(), page.click('p.toggles a[href$="lens=none"]')]);
  assert.equal((await grid()).sort(), want(['--no-lens']).sort());
});

test("in a browser: the demo's pages show tokens as text (LLaMA-2's tokenizer), a cell's worst example first", async () => {
  const page = await browser.newPage();
  await page.goto(server.url);
  await shoot(page, 'runs');
  await page.goto(new URL('/run/demo', server.url).toString());
  await shoot(page, 'run');
  assert.match(await page.$eval('body', (b) => b.innerHTML), /commonest top-1 predictions.*<code>/s);
  await Promise.all([page.waitForNavigation(), page.click('g.cell[data-metric="top1"][data-layer="9"][data-position="0"] rect')]);
  await Promise.all([page.waitForNavigation(), page.click('th a[href$="sort=loss"]')]);
  const losses = await page.$$eval('table[id^=samples] tbody tr td:nth-child(5)', (tds) => tds.map((td) => Number(td.textContent)));
  assert.ok(losses.length > 1 && losses.every((l, i) => i === 0 || l <= losses[i - 1]!), 'sorted by loss, worst first');
  assert.ok((await page.$$('table[id^=samples] tbody code')).length > 0, 'tokens as text');
  await shoot(page, 'cell');
  await Promise.all([page.waitForNavigation(), page.click('table[id^=samples] tbody tr a')]);
  assert.ok((await page.$$('g.cell[data-token]')).length === 16 * 6, 'the grid: 16 layers × 6 positions');
  await shoot(page, 'example');
});

test('in a browser: an open run page shows the epoch its run writes', async () => {
  const page = await browser.newPage();
  await page.goto(new URL('/run/baseline-run', server.url).toString());
  const m = metrics('baseline-run');
  m.epochs.push({ ...m.epochs.at(-1), epoch: m.epochs.at(-1).epoch + 1 });
  writeFileSync(join(runs, 'baseline-run', 'metrics.json'), JSON.stringify(m));
  await page.waitForFunction((n: number) => document.body.textContent!.includes(`${n} epochs`), { timeout: 10_000 }, m.epochs.length);
});

test('--export: one self-contained file with the run, its cells and its most instructive examples, browsable offline', async () => {
  const file = join(tmp, 'lite-run.html');
  const r = cli('view', join(runs, 'lite-run'), '--export', file, '--examples', '4');
  assert.is(r.status, 0, r.stderr);
  const html = readFileSync(file, 'utf8');
  // Nothing fetched from anywhere: no external script, style, image or link.
  assert.not.match(html, /<script src|<link |src="http|href="http|href="\//);
  const cells = metrics('lite-run').per_group.filter((c: { count: number }) => c.count > 0);
  for (const c of cells) assert.ok(html.includes(`<section id="cell-${c.layer}-${c.position}"`), `cell ${c.layer},${c.position}`);
  // Two problems: both are the worst or best somewhere; each through the lens and the logit lens.
  for (const id of ['example-100', 'example-100-none', 'example-101', 'example-101-none']) assert.ok(html.includes(`<section id="${id}"`), id);
  const page = await browser.newPage();
  await page.goto(`file://${file}`);
  const visible = () => page.$$eval('section[data-page]', (s) => s.filter((x) => !(x as HTMLElement).hidden).map((x) => x.id));
  assert.equal(await visible(), ['run']);
  await page.click('section#run g.cell[data-metric="top1"][data-layer="3"][data-position="1"] rect');
  await page.waitForFunction(() => location.hash === '#cell-3-1');
  assert.equal(await visible(), ['cell-3-1']);
  await page.click('section#cell-3-1 table a');
  await page.waitForFunction(() => location.hash.startsWith('#example-'));
  assert.match((await visible())[0]!, /^example-10[01]$/);
});

test('a run that writes another epoch changes its version (the open page reloads on it)', async () => {
  const before = await text('/run/lite-run/version');
  const m = metrics('lite-run');
  const last = m.epochs.at(-1);
  m.epochs.push({ ...last, epoch: last.epoch + 1 });
  writeFileSync(join(runs, 'lite-run', 'metrics.json'), JSON.stringify(m));
  const after = await text('/run/lite-run/version');
  assert.is.not(after, before);
  assert.match(await text('/run/lite-run'), new RegExp(`${m.epochs.length} epochs`));
});

test.after(async () => {
  await browser?.close();
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
