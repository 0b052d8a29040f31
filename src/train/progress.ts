// Progress of a long loop: a redrawn bar on a terminal (steps/s, running loss, ETA), plain
// lines every few seconds otherwise (logs, CI). Writes to stderr so stdout stays the table.

export class Progress {
  private started = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(
    private label: string,
    private total: number,
    private stream: NodeJS.WriteStream = process.stderr,
    private quiet = false,
    private unit = 'steps',
  ) {
    this.tty = Boolean(stream.isTTY);
    this.started = performance.now();
  }

  /** Whether update(done) would draw now (so a caller fetches the running loss only then). */
  due(done: number): boolean {
    if (this.quiet) return false;
    return done >= this.total || performance.now() - this.lastDraw >= (this.tty ? 100 : 10_000);
  }

  update(done: number, loss?: number): void {
    if (!this.due(done)) return;
    const now = performance.now();
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = done / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const lossText = loss === undefined ? '' : ` · loss ${loss.toFixed(4)}`;
    const stats = `${done}/${this.total} ${this.unit} · ${rate.toFixed(1)} ${this.unit}/s${lossText} · ${done < this.total ? `ETA ${clock(eta)}` : clock(seconds)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((width * done) / Math.max(1, this.total));
      this.stream.write(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${stats}`);
    } else {
      this.stream.write(`${this.label}: ${stats}\n`);
    }
  }

  /** Clears the bar (the caller then prints the epoch's row). */
  end(): void {
    if (this.tty && !this.quiet) this.stream.write('\r\x1b[2K');
  }
}

export function clock(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
