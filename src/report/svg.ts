// A few SVG building blocks for the reports: escaped elements, a colour scale, axis ticks.
// Pure functions of their inputs; the pictures are plain SVG 1.1 that browsers and editors
// open as they are (no scripts, no external fonts or styles).

/** Escapes text for XML content and attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Attrs = Record<string, string | number | undefined>;

/** `<tag a="…">children</tag>`, or self-closing without children; undefined attributes are left out. */
export function el(tag: string, attrs: Attrs, ...children: string[]): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(typeof v === 'number' ? round(v) : v!)}"`)
    .join('');
  return children.length ? `<${tag}${a}>${children.join('')}</${tag}>` : `<${tag}${a}/>`;
}

/** Text at (x, y) with a font size and anchor. */
export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return el('text', { x, y, 'font-size': 12, ...attrs }, esc(content));
}

/**
 * A generous estimate of a text's width in px (DejaVu Sans advances average under 0.62 em,
 * 0.68 em bold), so that a picture can be made wide enough for its titles.
 */
export function textWidth(content: string, fontSize: number, bold = false): number {
  return Math.ceil([...content].length * fontSize * (bold ? 0.68 : 0.62));
}

/** The whole document, with a white background and one font for every text. */
export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return (
    el(
      'svg',
      {
        xmlns: 'http://www.w3.org/2000/svg',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        'font-family': 'DejaVu Sans, Helvetica, Arial, sans-serif',
      },
      el('title', {}, esc(title)),
      el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }),
      ...body,
    ) + '\n'
  );
}

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, '');
}

// Viridis at 9 stops (perceptually uniform, readable in grey and by most colour-blind readers).
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

/** The colour of t ∈ [0, 1] on the viridis scale (clamped). */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = hex(VIRIDIS[i]!);
  const b = hex(VIRIDIS[i + 1]!);
  return `rgb(${a.map((c, k) => Math.round(c + (b[k]! - c) * f)).join(',')})`;
}

/** Black or white, whichever reads better on `t`'s viridis colour. */
export function inkOn(t: number): string {
  return t > 0.55 ? '#000000' : '#ffffff';
}

function hex(h: string): number[] {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
