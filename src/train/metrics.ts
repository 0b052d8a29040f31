// Evaluation metrics from per-sample results (contract): mean CE, and top-k accuracy where a
// sample counts when fewer than k logits are strictly greater than its target's.
// Pure host code: the GPU hands back one loss and one rank per test sample.

export interface Scores {
  count: number;
  loss: number;
  top1: number;
  top5: number;
  top10: number;
  /** With several targets a sample: any of its positive-weight targets ranks below k. */
  any1?: number;
  any5?: number;
  any10?: number;
}

export interface Breakdown {
  overall: Scores;
  perLayer: (Scores & { layer: number })[];
  perPosition: (Scores & { position: number })[];
  perGroup: (Scores & { layer: number; position: number })[];
}

class Tally {
  count = 0;
  loss = 0;
  hits = [0, 0, 0];
  anyHits = [0, 0, 0];
  constructor(private withAny: boolean) {}
  add(loss: number, rank: number, anyRank: number): void {
    this.count++;
    this.loss += loss;
    [1, 5, 10].forEach((k, i) => {
      if (rank < k) this.hits[i]++;
      if (anyRank < k) this.anyHits[i]++;
    });
  }
  scores(): Scores {
    const n = this.count || 1;
    const s: Scores = { count: this.count, loss: this.loss / n, top1: this.hits[0]! / n, top5: this.hits[1]! / n, top10: this.hits[2]! / n };
    if (this.withAny) Object.assign(s, { any1: this.anyHits[0]! / n, any5: this.anyHits[1]! / n, any10: this.anyHits[2]! / n });
    return s;
  }
}

/**
 * Metrics over all samples and broken down by layer, position and (layer, position); any-k
 * too when `anyRank` (each sample's best positive-weight target rank) is given. Every layer,
 * position and pair of `cover` gets an entry, with count 0 where no sample has it.
 */
export function breakdown(
  loss: ArrayLike<number>,
  rank: ArrayLike<number>,
  layer: Int32Array,
  position: Int32Array,
  anyRank?: ArrayLike<number>,
  cover?: { layers: readonly number[]; positions: readonly number[] },
): Breakdown {
  const withAny = anyRank !== undefined;
  const all = new Tally(withAny);
  const byLayer = new Map<number, Tally>();
  const byPosition = new Map<number, Tally>();
  const byPair = new Map<string, Tally>();
  const get = <K>(m: Map<K, Tally>, k: K) => {
    let t = m.get(k);
    if (!t) m.set(k, (t = new Tally(withAny)));
    return t;
  };
  for (const l of cover?.layers ?? []) {
    get(byLayer, l);
    for (const p of cover!.positions) get(byPair, `${l},${p}`);
  }
  for (const p of cover?.positions ?? []) get(byPosition, p);
  for (let i = 0; i < loss.length; i++) {
    const [l, p, r, x] = [layer[i]!, position[i]!, rank[i]!, loss[i]!];
    const a = anyRank ? anyRank[i]! : r;
    all.add(x, r, a);
    get(byLayer, l).add(x, r, a);
    get(byPosition, p).add(x, r, a);
    get(byPair, `${l},${p}`).add(x, r, a);
  }
  const sorted = <K extends number | string>(m: Map<K, Tally>) => [...m.entries()].sort(([a], [b]) => cmp(a, b));
  return {
    overall: all.scores(),
    perLayer: sorted(byLayer).map(([layer, t]) => ({ layer, ...t.scores() })),
    perPosition: sorted(byPosition).map(([position, t]) => ({ position, ...t.scores() })),
    perGroup: sorted(byPair).map(([key, t]) => {
      const [layer, position] = key.split(',').map(Number) as [number, number];
      return { layer, position, ...t.scores() };
    }),
  };
}

function cmp(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const [la, pa] = String(a).split(',').map(Number) as [number, number];
  const [lb, pb] = String(b).split(',').map(Number) as [number, number];
  return la - lb || pa - pb;
}

/** 0.198 → "19.8 %". */
export function percent(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

/** Scores as metrics.json writes them: the loss is named val_loss. */
export function scoresJson<T extends { loss: number }>({ loss, ...rest }: T) {
  return { ...rest, val_loss: loss };
}

/** What one position (or layer) predicts: its commonest top-1 tokens and wrong guesses. */
export interface PredictionStats {
  /** The position or layer id. */
  id: number;
  count: number;
  /** The commonest top-1 predictions, with how often. */
  top: { token: number; count: number }[];
  /** The commonest (target → predicted) pairs among the wrong top-1 predictions. */
  confusions: { target: number; predicted: number; count: number }[];
}

/** Per value of `by` (positions or layers): the `n` commonest predictions and confusions. */
export function predictionStats(top1: ArrayLike<number>, target: ArrayLike<number>, by: ArrayLike<number>, n = 5): PredictionStats[] {
  const groups = new Map<number, { count: number; top: Map<number, number>; confusions: Map<string, number> }>();
  for (let i = 0; i < top1.length; i++) {
    let g = groups.get(by[i]!);
    if (!g) groups.set(by[i]!, (g = { count: 0, top: new Map(), confusions: new Map() }));
    g.count++;
    g.top.set(top1[i]!, (g.top.get(top1[i]!) ?? 0) + 1);
    if (target[i]! >= 0 && target[i] !== top1[i]) {
      const key = `${target[i]},${top1[i]}`;
      g.confusions.set(key, (g.confusions.get(key) ?? 0) + 1);
    }
  }
  const best = <K>(m: Map<K, number>) => [...m.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true })).slice(0, n);
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([id, g]) => ({
      id,
      count: g.count,
      top: best(g.top).map(([token, count]) => ({ token, count })),
      confusions: best(g.confusions).map(([key, count]) => {
        const [t, p] = key.split(',').map(Number) as [number, number];
        return { target: t, predicted: p, count };
      }),
    }));
}
