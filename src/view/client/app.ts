// The pages' script (bundled by esbuild into the view's one asset): heatmap cells open their
// pages, a filter box narrows a table (its text kept in the URL), a page whose data is still
// coming (a run training, results being computed) reloads when the server says it changed,
// and in an exported file the section the #hash names is the one shown.

/** Elements with data-cell-href open `${href}?layer=L&position=P` for the heatmap cell clicked. */
function linkCells(): void {
  for (const box of document.querySelectorAll<HTMLElement>('[data-cell-href]')) {
    box.addEventListener('click', (ev) => {
      const cell = (ev.target as Element).closest('[data-layer][data-position]');
      if (!cell) return;
      const [layer, position] = [cell.getAttribute('data-layer')!, cell.getAttribute('data-position')!];
      const href = box.dataset.cellHref!;
      // In an exported file a cell is the section #cell-L-P.
      if (href.startsWith('#')) return void (location.hash = `${href}-${layer}-${position}`);
      const url = new URL(href, location.href);
      url.searchParams.set('layer', layer);
      url.searchParams.set('position', position);
      location.href = url.toString();
    });
  }
}

/** input[data-filter=TABLE_ID]: shows the rows whose text contains it (any case); ?q= keeps it. */
function filters(): void {
  for (const input of document.querySelectorAll<HTMLInputElement>('input[data-filter]')) {
    const table = document.getElementById(input.dataset.filter!);
    if (!table) continue;
    const apply = () => {
      const q = input.value.trim().toLowerCase();
      let shown = 0;
      for (const row of table.querySelectorAll<HTMLTableRowElement>('tbody tr')) {
        const hit = !q || (row.textContent ?? '').toLowerCase().includes(q);
        row.hidden = !hit;
        if (hit) shown++;
      }
      const count = (input.closest('section') ?? document).querySelector('[data-filter-count]');
      if (count) count.textContent = String(shown);
      if (location.protocol === 'file:') return; // an exported file keeps no state in its URL
      const url = new URL(location.href);
      if (q) url.searchParams.set('q', input.value.trim());
      else url.searchParams.delete('q');
      history.replaceState(null, '', url.toString());
    };
    input.addEventListener('input', apply);
    apply();
  }
}

/** body[data-poll=URL][data-version=V]: reloads once the URL answers another version. */
function poll(): void {
  const { poll: url, version } = document.body.dataset;
  if (!url) return;
  const check = async () => {
    try {
      const r = await fetch(url, { cache: 'no-store' });
      if (r.ok && (await r.text()) !== version) return location.reload();
    } catch {
      // The server is away for a moment: ask again.
    }
    setTimeout(check, 1000);
  };
  setTimeout(check, 1000);
}

/** An exported file's pages are sections: the one #hash names is shown (the first without one). */
function sections(): void {
  const all = [...document.querySelectorAll<HTMLElement>('section[data-page]')];
  if (!all.length) return;
  const show = () => {
    const id = decodeURIComponent(location.hash.slice(1));
    const current = all.find((s) => s.id === id) ?? all[0]!;
    for (const s of all) s.hidden = s !== current;
    window.scrollTo(0, 0);
  };
  window.addEventListener('hashchange', show);
  show();
}

sections();
linkCells();
filters();
poll();
