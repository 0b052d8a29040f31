// Evaluation metrics from per-sample results (contract): mean CE, and top-k accuracy where a
// sample counts when fewer than k logits are strictly greater than its target's.
// Pure host code: the GPU hands back one loss and one rank per test sample.

export interface Scores {
  count: number;
  loss: number;
  top1: number;
  top5: number;
  top10: number;
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
  add(loss: number, rank: number): void {
    this.count++;
    this.loss += loss;
    if (rank < 1) this.hits[0]++;
    if (rank < 5) this.hits[1]++;
    if (rank < 10) this.hits[2]++;
  }
  scores(): Scores {
    const n = this.count || 1;
    return { count: this.count, loss: this.loss / n, top1: this.hits[0]! / n, top5: this.hits[1]! / n, top10: this.hits[2]! / n };
  }
}

/** Metrics over all samples and broken down by layer, position and (layer, position). */
export function breakdown(loss: ArrayLike<number>, rank: ArrayLike<number>, layer: Int32Array, position: Int32Array): Breakdown {
  const all = new Tally();
  const byLayer = new Map<number, Tally>();
  const byPosition = new Map<number, Tally>();
  const byPair = new Map<string, Tally>();
  const get = <K>(m: Map<K, Tally>, k: K) => {
    let t = m.get(k);
    if (!t) m.set(k, (t = new Tally()));
    return t;
  };
  for (let i = 0; i < loss.length; i++) {
    const [l, p, r, x] = [layer[i]!, position[i]!, rank[i]!, loss[i]!];
    all.add(x, r);
    get(byLayer, l).add(x, r);
    get(byPosition, p).add(x, r);
    get(byPair, `${l},${p}`).add(x, r);
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
