// auditship web UI: autocomplete in the search box. Field names as you type a term; after
// `field:`, values that start with what follows, from the store's dictionary (GET /v1/values).
// Values are attacker-controlled text: rendered with textContent only.

import { $, el, getJSON, quoteValue, textNodes } from './core.js';

const FIELDS = ['cluster', 'node', 'user', 'group', 'verb', 'resource', 'apiGroup', 'ns', 'name', 'code', 'stage', 'auditID'];
const API_FIELD = { ns: 'namespace' };          // search key -> /v1/values field
const NO_VALUES = new Set(['auditID']);          // too many to list
const DELAY_MS = 120;

let input = null, list = null;
let items = [];        // [{label, insert, field}]
let active = -1;
let token = null;      // {start, end, minus, field, prefix} under the caret
let timer = null, ctl = null;

/** The term the caret is in: from the last blank before it to the caret (none inside quotes). */
function termAtCaret() {
  const text = input.value, caret = input.selectionStart ?? text.length;
  let start = caret;
  while (start > 0 && !/\s/.test(text[start - 1])) start--;
  const term = text.slice(start, caret);
  if (term.includes('"')) return null;
  const minus = term.startsWith('-');
  const body = minus ? term.slice(1) : term;
  const colon = body.indexOf(':');
  if (colon < 0) return { start, end: caret, minus, field: null, prefix: body };
  return { start, end: caret, minus, field: body.slice(0, colon), prefix: body.slice(colon + 1) };
}

function close() {
  items = [];
  active = -1;
  list.replaceChildren();
  list.hidden = true;
  input.setAttribute('aria-expanded', 'false');
  input.removeAttribute('aria-activedescendant');
}

function show(next) {
  items = next;
  active = -1;
  list.replaceChildren();
  if (!items.length) { close(); return; }
  items.forEach((item, i) => {
    list.append(el('li', { id: `suggest-${i}`, role: 'option', class: 'suggestion', 'data-index': String(i) }, textNodes(item.label)));
  });
  // Under the search box, wherever the form wrapped it.
  list.style.left = `${input.offsetLeft}px`;
  list.style.top = `${input.offsetTop + input.offsetHeight + 2}px`;
  list.style.minWidth = `${Math.min(input.offsetWidth, 360)}px`;
  list.hidden = false;
  input.setAttribute('aria-expanded', 'true');
}

function highlight(i) {
  active = i;
  for (const li of list.children) li.classList.toggle('active', Number(li.dataset.index) === i);
  if (i >= 0) input.setAttribute('aria-activedescendant', `suggest-${i}`); else input.removeAttribute('aria-activedescendant');
}

function accept(i) {
  const item = items[i];
  if (!item || !token) return;
  const text = input.value;
  const before = text.slice(0, token.start), after = text.slice(token.end);
  const inserted = (token.minus ? '-' : '') + item.insert;
  input.value = before + inserted + after;
  const caret = before.length + inserted.length;
  input.setSelectionRange(caret, caret);
  close();
  input.focus();
  if (item.field) update();   // a field was chosen: its values next
}

async function update() {
  token = termAtCaret();
  if (timer) { clearTimeout(timer); timer = null; }
  if (ctl) { ctl.abort(); ctl = null; }
  if (!token || (!token.field && !token.prefix)) { close(); return; }
  if (token.field === null) {
    const p = token.prefix.toLowerCase();
    show(FIELDS.filter((f) => f.toLowerCase().startsWith(p) && f.toLowerCase() !== p).map((f) => ({ label: f + ':', insert: f + ':', field: f })));
    return;
  }
  if (!FIELDS.includes(token.field) || NO_VALUES.has(token.field)) { close(); return; }
  const field = API_FIELD[token.field] || token.field;
  const asked = token;
  timer = setTimeout(async () => {
    ctl = new AbortController();
    try {
      const values = await getJSON('/v1/values', { field, prefix: asked.prefix, limit: 12 }, ctl.signal);
      if (token !== asked) return;
      const found = (Array.isArray(values) ? values : []).map(String).filter((v) => v !== asked.prefix);
      show(found.map((v) => ({ label: v, insert: `${asked.field}:${quoteValue(v)} `, field: null })));
    } catch { close(); }   // autocomplete is a convenience: a failure shows nothing
  }, DELAY_MS);
}

/** Wires autocomplete to the search box. */
export function initSuggest() {
  input = $('search-input');
  list = $('suggest');
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', 'suggest');
  input.setAttribute('aria-expanded', 'false');
  input.addEventListener('input', update);
  input.form?.addEventListener('submit', close);
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('keydown', (e) => {
    if (list.hidden || !items.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = items.length;
      highlight(e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n);
    } else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) {
      e.preventDefault();
      accept(active);
    } else if (e.key === 'Tab' && items.length === 1) {
      e.preventDefault();
      accept(0);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  });
  // mousedown, not click: the input keeps its focus.
  list.addEventListener('mousedown', (e) => {
    const li = e.target.closest('li.suggestion');
    if (!li) return;
    e.preventDefault();
    accept(Number(li.dataset.index));
  });
}
