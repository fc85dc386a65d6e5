// auditship web UI: one object's history (cluster, group, resource, namespace, name) as a
// timeline, with the state after each change and a diff between consecutive states.
// Event fields are attacker-controlled text: rendered with textContent only.

import { $, api, el, encodeParams, get, parseNdjson, prettyJson, quoteValue, report, shortTime, str, textNodes, titleText } from './core.js';
import { history, hunks, lineDiff, lines, normalise } from './diff.js';

const PAGE = 1000;          // events per request
const SHOWN_STATES = 3;     // the newest states are open, the others folded

/** The object a URL names: {cluster, apiGroup, resource, namespace, name}. */
export function objectFromParams(p) {
  return {
    cluster: p.get('cluster') || '', apiGroup: p.get('apiGroup') || '', resource: p.get('resource') || '',
    namespace: p.get('namespace') || '', name: p.get('name') || '',
  };
}

/** The object an event's objectRef names, or null when it names none. */
export function objectOf(rec) {
  const ref = get(rec.event, 'objectRef');
  const resource = str(get(ref, 'resource')), name = str(get(ref, 'name'));
  if (!resource || !name) return null;
  return { cluster: rec.cluster, apiGroup: str(get(ref, 'apiGroup')), resource, namespace: str(get(ref, 'namespace')), name };
}

/** The page URL of an object's history. */
export const objectUrl = (o) => '?' + encodeParams({ view: 'object', ...o });

/** The object's name as people write it: group/resource namespace/name in cluster. */
const title = (o) => `${o.resource}${o.apiGroup ? '.' + o.apiGroup : ''} ${o.namespace ? o.namespace + '/' : ''}${o.name} in ${o.cluster}`;

/** The search of the object's events (search view), for "Search these events". */
function searchUrl(o) {
  const terms = [`cluster:${quoteValue(o.cluster)}`, `resource:${quoteValue(o.resource)}`, `name:${quoteValue(o.name)}`];
  if (o.namespace) terms.push(`ns:${quoteValue(o.namespace)}`);
  return '?' + encodeParams({ q: terms.join(' '), since: '3650d' });
}

let ctl = null;       // AbortController of the shown history
let records = [];     // every event fetched so far, oldest first
let next = '';        // cursor of the next page
let shownObject = null;

/** Shows the history view for an object: fetches its events (oldest first, by cursor) and renders. */
export function showObject(o) {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  shownObject = o;
  records = [];
  next = '';
  $('object-title').replaceChildren(textNodes(title(o)));
  $('object-title').setAttribute('title', titleText(title(o)));
  $('object-search').setAttribute('href', searchUrl(o));
  $('object-timeline').replaceChildren();
  $('object-summary').textContent = 'Loading…';
  $('object-more').hidden = true;
  loadPage(ctl.signal).catch(report);
}

/** Stops loading (the view was left). */
export function leaveObject() {
  if (ctl) ctl.abort();
  ctl = null;
}

async function loadPage(signal) {
  const o = shownObject;
  const params = { cluster: o.cluster, resource: o.resource, name: o.name, limit: PAGE, after: next };
  if (o.namespace) params.namespace = o.namespace;
  if (o.apiGroup) params.apiGroup = o.apiGroup;
  const res = await api('/v1/events', params, signal);
  const cursor = res.headers.get('X-Auditship-Next-Cursor') || '';
  // The core group ("") cannot be a filter parameter: other groups' resources of the same name are left out here.
  const page = parseNdjson(await res.text()).filter((r) => o.apiGroup || !str(get(r.event, 'objectRef', 'apiGroup')));
  if (signal.aborted) return;
  records.push(...page);
  next = cursor;
  render();
}

/** "Load more": the next page of the object's events. */
export async function loadMoreObject() {
  const btn = $('object-more');
  if (!next || !ctl || btn.disabled) return;
  btn.disabled = true;
  try { await loadPage(ctl.signal); } catch (err) { report(err); } finally { btn.disabled = false; }
}

const KIND_LABEL = { change: 'changed', delete: 'deleted', failed: 'refused', read: 'read' };
const SOURCE_LABEL = {
  response: 'state from the response', request: 'state as requested (the request body)',
  reconstructed: 'state reconstructed', unknown: 'state unknown',
};

/** Renders the timeline of everything fetched so far. */
export function render() {
  if (!shownObject) return;
  const showReads = $('object-reads').checked;
  const hideManaged = $('object-managed').checked;
  const entries = history(records);
  const list = $('object-timeline');
  list.replaceChildren();
  let previous;           // the last state shown (normalised lines)
  let changes = 0, reads = 0, generation = 0;
  const items = [];
  for (const e of entries) {
    const stateLines = e.state === undefined ? undefined : e.state === null ? [] : lines(normalise(e.state, hideManaged));
    if (e.kind === 'read') {
      reads++;
      if (stateLines !== undefined) previous = stateLines;   // a read's response is the state it saw
      if (!showReads) continue;
    } else if (e.kind !== 'failed') changes++;
    if (e.generation !== generation) {
      if (generation) items.push(el('li', { class: 'generation', text: `A new object of the same name (generation ${e.generation})` }));
      generation = e.generation;
    }
    items.push(entryItem(e, stateLines, previous));
    if (stateLines !== undefined && e.kind !== 'read') previous = stateLines;
  }
  // Newest changes open, older ones folded.
  let open = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const d = items[i].querySelector('details.state');
    if (d && open < SHOWN_STATES) { d.open = true; open++; }
  }
  list.append(...items);
  $('object-summary').textContent = entries.length
    ? `${entries.length} requests: ${changes} changes, ${reads} reads${next ? ' (more to load)' : ''}. Oldest first.`
    : 'No stored event names this object.';
  $('object-more').hidden = !next;
}

function entryItem(e, stateLines, previous) {
  const ev = e.rec.event;
  const time = str(get(ev, 'requestReceivedTimestamp') || get(ev, 'stageTimestamp'));
  const user = str(get(ev, 'user', 'username'));
  const sub = str(get(ev, 'objectRef', 'subresource'));
  const li = el('li', { class: `entry kind-${e.kind}`, 'data-kind': e.kind, 'data-verb': e.verb });
  const head = el('div', { class: 'entry-head' },
    el('time', { title: titleText(time) }, textNodes(shortTime(time))),
    el('span', { class: 'verb' }, textNodes(e.verb + (sub ? ' ' + sub : ''))),
    el('span', { class: 'user', title: titleText(user) }, textNodes(user)),
    el('span', { class: 'code' }, textNodes(str(e.code))),
    el('span', { class: 'badge' }, textNodes(KIND_LABEL[e.kind] || e.kind)));
  const link = el('a', { class: 'open-event', href: '?' + encodeParams({ q: 'auditID:' + quoteValue(str(get(ev, 'auditID'))), since: '3650d', event: `${str(get(ev, 'auditID'))}:${str(get(ev, 'stage'))}` }) }, 'event');
  head.append(link);
  li.append(head);
  if (e.note) li.append(el('p', { class: 'note' }, textNodes(e.note)));
  if (e.kind === 'read' || e.kind === 'failed') return li;
  if (e.patch !== undefined) {
    li.append(el('details', { class: 'patch' }, el('summary', { text: 'Patch sent' }), el('pre', { class: 'json' }, textNodes(prettyJson(e.patch)))));
  }
  if (stateLines === undefined) return li;
  if (previous !== undefined && e.kind !== 'delete') li.append(diffBlock(previous, stateLines));
  if (e.kind !== 'delete') {
    li.append(el('details', { class: 'state', 'data-source': e.source },
      el('summary', { text: SOURCE_LABEL[e.source] || e.source }),
      el('pre', { class: 'json' }, textNodes(stateLines.join('\n')))));
  }
  return li;
}

/** The changes from one state to the next, with three lines of context. */
function diffBlock(before, after) {
  const d = lineDiff(before, after);
  const box = el('div', { class: 'diff', 'data-testid': 'diff' });
  if (d === null) {
    box.append(el('p', { class: 'note', text: 'Too many lines differ to show a diff: compare the states.' }));
    return box;
  }
  const parts = hunks(d, 3);
  if (!parts.some((p) => p.op === '+' || p.op === '-')) {
    box.append(el('p', { class: 'note', text: 'No change to the state shown.' }));
    return box;
  }
  const pre = el('pre', { class: 'diff-lines' });
  for (const p of parts) {
    if (p.skipped) { pre.append(el('span', { class: 'skip', text: `… ${p.skipped} unchanged line${p.skipped === 1 ? '' : 's'}\n` })); continue; }
    const cls = p.op === '+' ? 'add' : p.op === '-' ? 'del' : 'ctx';
    pre.append(el('span', { class: cls }, textNodes(`${p.op} ${p.text}\n`)));
  }
  box.append(pre);
  return box;
}
