// A strict well-formedness check for the SVGs we write, and a reader of their elements:
// tags nest and close, attributes are name="value", text and values escape < and &.
// (What an XML parser would reject; enough for SVG without DTDs, comments or CDATA.)

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  /** Text directly inside the element (entities decoded). */
  text: string;
  children: XmlElement[];
}

const NAME = /^[A-Za-z_][\w.:-]*$/;
const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function decode(s: string, where: string): string {
  if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s)) throw new Error(`${where}: a bare '&'`);
  return s.replace(ENTITY, (_, e: string) =>
    e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );
}

/** Parses `xml` (one root element, optional XML declaration); throws on anything malformed. */
export function parseXml(xml: string): XmlElement {
  let at = 0;
  const src = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (at < src.length) {
    const lt = src.indexOf('<', at);
    const textPart = src.slice(at, lt < 0 ? src.length : lt);
    if (textPart.trim()) {
      if (!stack.length) throw new Error(`text outside the root element: ${textPart.slice(0, 40)}`);
      stack[stack.length - 1]!.text += decode(textPart, 'text');
    }
    if (lt < 0) break;
    const gt = src.indexOf('>', lt);
    if (gt < 0) throw new Error(`unclosed tag at ${lt}`);
    const tag = src.slice(lt + 1, gt);
    at = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([^\s]+)([\s\S]*)$/.exec(body.trim());
    if (!m || !NAME.test(m[1]!)) throw new Error(`bad tag <${tag.slice(0, 40)}>`);
    const attrs: Record<string, string> = {};
    let rest = m[2]!.trim();
    while (rest) {
      const a = /^([A-Za-z_][\w.:-]*)="([^"<]*)"\s*/.exec(rest);
      if (!a) throw new Error(`bad attribute in <${m[1]}>: ${rest.slice(0, 40)}`);
      if (a[1]! in attrs) throw new Error(`attribute ${a[1]} twice in <${m[1]}>`);
      attrs[a[1]!] = decode(a[2]!, `attribute ${a[1]}`);
      rest = rest.slice(a[0].length);
    }
    const el: XmlElement = { name: m[1]!, attrs, text: '', children: [] };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else if (root) throw new Error('two root elements');
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new Error('no element');
  return root;
}

/** Every element below `root` (depth first) that satisfies `pred`. */
export function findAll(root: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (pred(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}
