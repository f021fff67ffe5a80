// The ticker picker: a searchable combobox (WAI-ARIA 1.2 "combobox with listbox popup"), because a
// <select> of a 500-ticker universe cannot be searched. Type to filter (symbol prefix matches
// first, then anywhere in the symbol), arrows to move, Enter or a click to pick, Escape to close.
// At most MAX_SHOWN options are in the DOM at once; the list says how many more match.

const MAX_SHOWN = 50;

/**
 * @param {HTMLInputElement} input
 * @param {HTMLUListElement} list
 * @param {{ onPick: (ticker: string) => void, describe?: (t: any) => string }} opts
 */
export function tickerPicker(input, list, { onPick, describe = () => '' }) {
  let tickers = [];
  let current = null;
  let shown = [];
  let active = -1;

  const option = (t, i) => {
    const li = document.createElement('li');
    li.id = `${list.id}-opt-${i}`;
    li.setAttribute('role', 'option');
    li.dataset.ticker = t.ticker;
    li.setAttribute('aria-selected', String(i === active));
    const sym = document.createElement('span');
    sym.className = 'sym';
    sym.textContent = t.ticker;
    const info = document.createElement('span');
    info.className = 'info';
    info.textContent = describe(t);
    li.append(sym, info);
    return li;
  };

  /** Tickers matching the query: prefix matches first, then the others containing it, each alphabetically. */
  const matches = (query) => {
    const q = query.trim().toUpperCase();
    if (!q) return tickers;
    const prefix = [];
    const inner = [];
    for (const t of tickers) {
      const i = t.ticker.indexOf(q);
      if (i === 0) prefix.push(t); else if (i > 0) inner.push(t);
    }
    return [...prefix, ...inner];
  };

  const render = () => {
    const all = matches(input.value === current ? '' : input.value);
    shown = all.slice(0, MAX_SHOWN);
    if (active >= shown.length) active = shown.length - 1;
    const items = shown.map(option);
    const more = all.length - shown.length;
    if (all.length === 0) items.push(status('No ticker matches'));
    else if (more > 0) items.push(status(`${more} more of ${all.length} matching: type to narrow`));
    list.replaceChildren(...items);
    list.dataset.matches = String(all.length);
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `${list.id}-opt-${active}`);
      list.children[active]?.scrollIntoView?.({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };
  const status = (text) => {
    const li = document.createElement('li');
    li.className = 'status';
    li.setAttribute('role', 'presentation');
    li.textContent = text;
    return li;
  };

  const open = () => {
    if (!list.hidden) return;
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    active = -1;
    render();
  };
  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };
  const pick = (ticker) => {
    close();
    input.value = ticker;
    if (ticker !== current) {
      current = ticker;
      onPick(ticker);
    }
  };

  // Focus or a click on the field (it may still have focus after a pick): select the text so
  // typing replaces it, and open the list.
  const start = () => {
    if (!list.hidden) return;
    input.select();
    open();
  };
  input.addEventListener('focus', start);
  input.addEventListener('click', start);
  input.addEventListener('input', () => {
    active = input.value.trim() ? 0 : -1;
    if (list.hidden) open(); else render();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (list.hidden) open();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      active = Math.max(0, Math.min(shown.length - 1, active + step));
      render();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const typed = input.value.trim().toUpperCase();
      const exact = tickers.find((t) => t.ticker === typed);
      const chosen = !list.hidden && active >= 0 ? shown[active] : exact ?? (shown.length === 1 ? shown[0] : undefined);
      if (chosen) pick(chosen.ticker);
    } else if (e.key === 'Escape') {
      input.value = current ?? '';
      close();
    }
  });
  // mousedown, not click: it comes before the input's blur, which would close the list first.
  list.addEventListener('mousedown', (e) => {
    const li = e.target.closest('li[role="option"]');
    if (!li) return;
    e.preventDefault();
    pick(li.dataset.ticker);
  });
  input.addEventListener('blur', () => {
    close();
    input.value = current ?? '';
  });

  return {
    setTickers(list_) {
      tickers = [...list_].sort((a, b) => (a.ticker < b.ticker ? -1 : a.ticker > b.ticker ? 1 : 0));
      input.placeholder = `Search ${tickers.length} ticker${tickers.length === 1 ? '' : 's'}`;
    },
    /** Show `ticker` as the current one without calling onPick (the page's initial choice). */
    set(ticker) {
      current = ticker;
      input.value = ticker;
    },
    get value() {
      return current;
    },
  };
}
