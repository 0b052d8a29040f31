// `lensgpu view`: a local, read-only web server over the runs given (hono for the routes).
// Safe by default: it listens on 127.0.0.1; a request whose Host header is not the server's
// own is refused (a DNS-rebinding page cannot read it); listening elsewhere (--host) needs the
// token printed with the URL instead, as Jupyter does; a URL names runs only by their id, never a path;
// only GET and HEAD are answered. A run folder that cannot be read is an error on its row.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { TokenText } from '../data/tokenizer.ts';
import type { Gpu } from '../lens/device.ts';
import type { RunRecord } from '../report/run.ts';
import { InputError } from '../shared/errors.ts';
import { LOCK_FILE } from '../train/runFolder.ts';
import { trajectory } from '../train/trajectory.ts';
import { cellPage, cellRows, comparePage, cotOf, errorPage, examplePage, progressPage, renderPage, runPage, runsPage, type Links, type PageContent, type RunRow } from './pages.ts';
import { clientScript } from './assets.ts';
import { findRuns, readEntry, type RunEntry } from './runs.ts';
import { GpuQueue, SampleStore } from './samples.ts';

export interface ViewOptions {
  paths: string[];
  host: string;
  /** 0: any free port. */
  port: number;
  openGpu: () => Promise<Gpu>;
  /** The tokenizer of a run's model, where one is known. */
  tokensOf: (run: RunRecord) => TokenText | undefined;
}

export interface ViewServer {
  url: string;
  close(): Promise<void>;
}

/** Addresses only this machine reaches: no token needed there. */
export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];
const LOOPBACK = new Set(LOOPBACK_HOSTS);

export const SERVER_LINKS: Links = {
  runs: '/',
  run: (id, q) => `/run/${encodeURIComponent(id)}${query(q)}`,
  cell: (id, layer, position, q) => `/run/${encodeURIComponent(id)}/cell${query({ layer: String(layer), position: String(position), ...q })}`,
  cellBase: (id) => `/run/${encodeURIComponent(id)}/cell`,
  example: (id, e, q) => `/run/${encodeURIComponent(id)}/example/${e}${query(q)}`,
  script: '<script src="/assets/app.js"></script>',
  sortable: true,
};

function query(q: Record<string, string> | undefined): string {
  const s = new URLSearchParams(q ?? {}).toString();
  return s ? `?${s}` : '';
}

/** Starts the server; resolves once it listens, with its URL (and token where one is needed). */
export async function startView(o: ViewOptions): Promise<ViewServer> {
  findRuns(o.paths); // refuse paths that hold no run before listening
  const token = LOOPBACK.has(o.host) ? undefined : randomBytes(16).toString('hex');
  const expected = Buffer.from(token ?? '');
  const queue = new GpuQueue(o.openGpu);
  const store = new SampleStore(queue);
  const app = new Hono();
  let origin = '';
  app.use('*', async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return c.text('read-only: only GET and HEAD are answered', 405);
    // On loopback the Host header must name this server; elsewhere the token guards it.
    const host = c.req.header('host') ?? '';
    if (!token && !allowedHosts(origin).has(host.toLowerCase())) return c.text(`refused: Host '${host}' is not this server's`, 403);
    if (token) {
      const given = Buffer.from(c.req.query('token') ?? getCookie(c, 'lensgpu_token') ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return c.text('this server needs the token printed with its URL', 403);
      setCookie(c, 'lensgpu_token', token, { httpOnly: true, sameSite: 'Strict', path: '/' });
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'");
  });
  routes(routeContext(app, o, store, queue));
  const server = await listen(app, o.host, o.port);
  const address = server.address() as { port: number };
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;
  origin = `${hostPart}:${address.port}`;
  return {
    url: `http://${origin}/${token ? `?token=${token}` : ''}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close();
    },
  };
}

/** The Host headers a server on loopback answers: localhost's names with its port. */
function allowedHosts(origin: string): Set<string> {
  const port = origin.slice(origin.lastIndexOf(':') + 1);
  return new Set(['127.0.0.1', 'localhost', '[::1]'].map((n) => `${n}:${port}`));
}

function listen(app: Hono, host: string, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server));
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why: Record<string, string> = { EADDRINUSE: `port ${port} is in use (leave --port out for a free one)`, EACCES: `port ${port} needs privileges (choose one above 1023)`, EADDRNOTAVAIL: `--host ${host} is not an address of this machine` };
      reject(e.code && why[e.code] ? new InputError(why[e.code]!) : e);
    });
  });
}

/** What every route uses: the options, the runs, the sample store and the answers shared by the pages. */
interface RouteContext {
  app: Hono;
  o: ViewOptions;
  queue: GpuQueue;
  entries: () => RunEntry[];
  entry: (id: string) => RunEntry | undefined;
  html: (c: Context, p: PageContent, status?: number) => Response;
  /** The run named in the URL, read now; or the error page to answer with. */
  runOf: (c: Context) => { e: RunEntry; run: RunRecord } | Response;
  /** The run's sample results, or the progress page while they are being computed. */
  samplesOf: (c: Context, id: string, run: RunRecord, what: string) => Response | Extract<ReturnType<SampleStore['of']>, { state: 'ready' }>;
  store: SampleStore;
}

function routeContext(app: Hono, o: ViewOptions, store: SampleStore, queue: GpuQueue): RouteContext {
  const links = SERVER_LINKS;
  const entries = () => findRuns(o.paths);
  const entry = (id: string) => entries().find((e) => e.id === id);
  const html = (c: Context, p: PageContent, status = 200) => c.html(renderPage(p, links), status as 200);
  const runOf = (c: Context) => {
    const e = entry(c.req.param('id')!);
    if (!e) return html(c, errorPage(404, `no run '${c.req.param('id')}' here`, links), 404);
    const read = readEntry(e);
    return 'run' in read ? { e, run: read.run } : html(c, errorPage(500, read.error, links), 500);
  };
  const samplesOf = (c: Context, id: string, run: RunRecord, what: string) => {
    const s = store.of(run);
    if (s.state === 'computing') return html(c, progressPage(id, what, s.done, s.total, links, { url: `${links.run(id)}/samples`, version: 'computing' }));
    if (s.state === 'error') return html(c, errorPage(500, `${s.message} (the run's metrics still show on its page)`, links), 500);
    return s;
  };
  return { app, o, queue, store, entries, entry, html, runOf, samplesOf };
}

function routes(r: RouteContext): void {
  const { app, o, store, entries, entry, html, runOf, samplesOf } = r;
  const links = SERVER_LINKS;
  app.get('/assets/app.js', (c) => c.body(clientScript(), 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }));

  app.get('/', (c) => html(c, runsPage(entries().map(rowOf), c.req.query('sort'), links)));

  app.get('/compare', (c) => {
    const ids = c.req.queries('runs') ?? [];
    const runs = ids.flatMap((id) => {
      const e = entry(id);
      const read = e && readEntry(e);
      return read && 'run' in read ? [{ id, run: read.run }] : [];
    });
    if (runs.length === 0) return html(c, errorPage(400, 'tick one or more runs to compare', links), 400);
    return html(c, comparePage(runs, links));
  });

  app.get('/run/:id', (c) => {
    const got = runOf(c);
    if (got instanceof Response) return got;
    const id = got.e.id;
    return html(c, runPage(id, got.run, c.req.query('metric') ?? 'all', o.tokensOf(got.run), links, { poll: { url: `${links.run(id)}/version`, version: versionOf(got.e) } }));
  });

  app.get('/run/:id/version', (c) => {
    const e = entry(c.req.param('id'));
    return e ? c.text(versionOf(e)) : c.text('no such run', 404);
  });

  app.get('/run/:id/samples', (c) => {
    const got = runOf(c);
    if (got instanceof Response) return got;
    return c.text(store.of(got.run).state);
  });

  app.get('/run/:id/cell', (c) => {
    const got = runOf(c);
    if (got instanceof Response) return got;
    const [layer, position] = [Number(c.req.query('layer')), Number(c.req.query('position'))];
    if (!Number.isInteger(layer) || !Number.isInteger(position)) return html(c, errorPage(400, 'a cell needs ?layer=L&position=P', links), 400);
    const s = samplesOf(c, got.e.id, got.run, `layer ${layer}, position ${position}`);
    if (s instanceof Response) return s;
    const cell = cellRows(s.data.test, s.samples, layer, position);
    return html(c, cellPage(got.e.id, cell, c.req.query('sort'), c.req.query('q') ?? '', o.tokensOf(got.run), links));
  });

  exampleRoute(r);
  app.notFound((c) => html(c, errorPage(404, `nothing at ${new URL(c.req.url).pathname}`, links), 404));
  app.onError((e, c) => html(c, errorPage(500, e.message, links), 500));
}

/** An example's page: its trajectory through the run's lens, the logit lens or another run's. */
function exampleRoute({ app, o, queue, entries, html, runOf, samplesOf }: RouteContext): void {
  const links = SERVER_LINKS;
  app.get('/run/:id/example/:example', async (c) => {
    const r = runOf(c);
    if (r instanceof Response) return r;
    const example = Number(c.req.param('example'));
    const s = samplesOf(c, r.e.id, r.run, `example ${example}`);
    if (s instanceof Response) return s;
    const lens = c.req.query('lens') ?? 'run';
    const others = entries().filter((e) => e.id !== r.e.id && existsSync(join(e.dir, 'lens.safetensors')) && sameHead(e, r.run));
    const lensPath = lens === 'none' ? undefined : join((lens === 'run' ? r.e : others.find((e) => e.id === lens) ?? r.e).dir, 'lens.safetensors');
    if (lens !== 'run' && lens !== 'none' && !others.some((e) => e.id === lens)) return html(c, errorPage(404, `no run '${lens}' with a lens here`, links), 404);
    const tokens = o.tokensOf(r.run);
    try {
      const t = await queue.run((gpu) => trajectory(gpu, s.data.head, s.data.test, example, lensPath));
      const choices = [{ key: 'run', label: `this run's lens` }, { key: 'none', label: 'the logit lens' }, ...others.map((e) => ({ key: e.id, label: `${e.id}'s lens` }))];
      return html(c, examplePage(r.e.id, t, lens, choices, cotOf(s.data, r.run, example, tokens), tokens, links));
    } catch (e) {
      return html(c, errorPage(400, (e as Error).message, links), 400);
    }
  });
}

/** Whether another run's lens reads the same head (width and vocabulary) as `run`, so it can be looked through too. */
function sameHead(e: RunEntry, run: RunRecord): boolean {
  const read = readEntry(e);
  const [a, b] = ['run' in read ? read.run.config.head : undefined, run.config.head];
  return a !== undefined && b !== undefined && a.d === b.d && a.V === b.V;
}

/** A run's row on the runs page: its record or its error, and whether it is training. */
function rowOf(e: RunEntry): RunRow {
  const read = readEntry(e);
  const training = existsSync(join(e.dir, LOCK_FILE)) || !existsSync(join(e.dir, 'metrics.json'));
  return { id: e.id, training, ...('run' in read ? { record: read.run } : { error: read.error }) };
}

/** What changes when a run writes an epoch: its metrics file's time and size. */
function versionOf(e: RunEntry): string {
  const path = join(e.dir, 'metrics.json');
  if (!existsSync(path)) return 'none';
  const s = statSync(path);
  return `${s.mtimeMs}-${s.size}`;
}

