// auditship web UI: the searches readers made through the aggregator (GET /v1/query-log),
// newest first, for admins: the auditors are audited. Filters are text people typed: rendered
// with textContent only.

import { $, el, encodeParams, get, getJSON, report, shortTime, str, textNodes, titleText } from './core.js';

let ctl = null;

/** The search view's URL for a recorded /v1/events filter, or '' for other requests. */
function searchUrl(entry) {
  if (str(get(entry, 'path')) !== '/v1/events') return '';
  const p = new URLSearchParams(str(get(entry, 'filter')));
  const kept = { q: p.get('q') || '', since: p.get('since') || '', until: p.get('until') || '' };
  return '?' + encodeParams(kept);
}

function cellText(text, cls) {
  const td = el('td', cls ? { class: cls } : {});
  if (text) { td.setAttribute('title', titleText(text)); td.append(el('span', {}, textNodes(text))); }
  return td;
}

/** Shows the newest 500 recorded searches. */
export async function showSearches() {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const signal = ctl.signal;
  const body = $('searches').tBodies[0];
  body.replaceChildren();
  $('searches-summary').textContent = 'Loading…';
  try {
    const found = await getJSON('/v1/query-log', { limit: 500 }, signal);
    if (signal.aborted) return;
    const entries = Array.isArray(found) ? found : [];
    $('searches-summary').textContent = entries.length ? `the newest ${entries.length}` : 'No search was recorded yet.';
    const frag = document.createDocumentFragment();
    for (const e of entries) {
      const person = str(get(e, 'person')), reader = str(get(e, 'reader'));
      let filter = str(get(e, 'filter'));
      try { filter = decodeURIComponent(filter.replace(/\+/g, ' ')); } catch { /* shown as sent */ }
      const tr = el('tr', { class: 'search-row' },
        cellText(shortTime(str(get(e, 'time'))), 't'),
        cellText(person ? `${person} (through ${reader})` : reader),
        cellText(str(get(e, 'path'))),
        cellText(filter),
        cellText(str(get(e, 'status')), 'code'),
        cellText(str(get(e, 'results')), 'code'));
      const url = searchUrl(e);
      if (url) tr.children[3].append(' ', el('a', { href: url, class: 'open-search' }, 'open'));
      frag.append(tr);
    }
    body.append(frag);
  } catch (err) {
    if (!signal.aborted) $('searches-summary').textContent = '';
    report(err);
  }
}

export function leaveSearches() {
  if (ctl) ctl.abort();
  ctl = null;
}
