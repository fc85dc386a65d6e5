// auditship web UI: the search view (search, histogram, facets, results, event detail) and the page.
// Every event field is attacker-controlled text: the DOM is built with createElement and
// textContent/setAttribute only, and every URL is built with encodeURIComponent.

import {
  $, STAGES, UNIT_MS, addTerm, api, clearError, clip, durationMs, el,
  encodeParams, facetTerm, fromLocalInput, get, getJSON, isObj, isRelative, parseNdjson,
  prettyJson, quoteValue, report, resolveTime, shortTime, showError, str, svgEl,
  textNodes, titleText, toLocalInput, toRfc3339,
} from './core.js';
import { leaveAlerts, showAlerts } from './alerts.js';
import { huntFromParams, huntUrl, leaveHunt, onHuntRangeChange, readHuntForm, runHunt, showHunt } from './hunt.js';
import { leaveSearches, showSearches } from './searches.js';
import { leavePerson, personUrl, showPerson } from './people.js';
import { initSuggest } from './suggest.js';
import { leaveObject, loadMoreObject, objectFromParams, objectOf, objectUrl, render as renderObject, showObject } from './history.js';

// ---- Constants -------------------------------------------------------------------------

const PAGE_SIZE = 50;
const DEFAULT_RANGE = '24h';
const FACET_FIELDS = ['cluster', 'node', 'user', 'verb', 'resource', 'namespace', 'code'];
const MAX_BARS = 120;
// Histogram widths, smallest first; the first giving at most MAX_BARS bars is used.
const BUCKETS = ['1s', '2s', '5s', '10s', '15s', '30s', '1m', '2m', '5m', '10m', '15m', '30m',
  '1h', '2h', '3h', '6h', '12h', '1d', '2d', '7d', '30d'];


// ---- View state (mirrored in the page URL) --------------------------------------------

let current = { q: '', since: DEFAULT_RANGE, until: '', event: '' };

function readUrlState() {
  const p = new URLSearchParams(location.search);
  const s = { q: p.get('q') || '', since: p.get('since') || '', until: p.get('until') || '', event: p.get('event') || '' };
  if (!s.since && !s.until) s.since = DEFAULT_RANGE;
  return s;
}

/** A relative page URL ("?q=…") for a state; relative so it can never leave this page. */
const pageUrl = (s) => '?' + encodeParams({ q: s.q, since: s.since, until: s.until, event: s.event });
const filterParams = (s) => ({ q: s.q, since: s.since, until: s.until });
const filterKey = (s) => encodeParams(filterParams(s));

/** Shows a state in the search form. */
function showStateInForm(s) {
  $('search-input').value = s.q;
  const select = $('range-select');
  if (!s.until && isRelative(s.since)) {
    if (![...select.options].some((o) => o.value === s.since)) {
      select.insertBefore(el('option', { value: s.since, text: `Last ${s.since}` }), select.lastElementChild);
    }
    select.value = s.since;
    $('since-input').value = '';
    $('until-input').value = '';
  } else {
    const now = Date.now();
    select.value = 'custom';
    $('since-input').value = toLocalInput(s.since, now);
    $('until-input').value = toLocalInput(s.until, now);
  }
}

/** The state the search form describes, or null (after showing why) when it is invalid. */
function readFormState() {
  const q = $('search-input').value.trim();
  const range = $('range-select').value;
  if (range !== 'custom') return { q, since: range, until: '', event: '' };
  const since = fromLocalInput($('since-input').value);
  const until = fromLocalInput($('until-input').value);
  if (since && until && Date.parse(since) >= Date.parse(until)) {
    clearError();
    showError('The start of the time range must be before its end.', false);
    return null;
  }
  return { q, since: since || (until ? '' : DEFAULT_RANGE), until, event: '' };
}

/** Runs the search the form describes, recording it in the browser history. */
function submitSearch() {
  const s = readFormState();
  if (!s) return;
  const fromOtherView = shownView !== 'search';
  if (fromOtherView || pageUrl(s) !== pageUrl(readUrlState()) || location.search === '') history.pushState(null, '', pageUrl(s));
  showView('search');
  runSearch(s);
}

// ---- Views (search, object history, alerts), chosen by the URL's `view` ---------------

let shownView = 'search';

/** Shows one view and marks its link in the header. */
function showView(name) {
  if (name !== 'object') leaveObject();
  if (name !== 'alerts') leaveAlerts();
  if (name !== 'hunt') leaveHunt();
  if (name !== 'searches') leaveSearches();
  if (name !== 'user') leavePerson();
  if (name !== 'search' && searchCtl) { searchCtl.abort(); searchCtl = null; }
  shownView = name;
  for (const v of ['search', 'object', 'alerts', 'hunt', 'searches', 'user']) $('view-' + v).hidden = v !== name;
  for (const v of ['search', 'alerts', 'hunt', 'searches']) {
    if (v === name) $('nav-' + v).setAttribute('aria-current', 'page'); else $('nav-' + v).removeAttribute('aria-current');
  }
  if (name !== 'search' && !$('detail').hidden) closeDetail(false);
}

/** Shows what the page URL names (on load and on back/forward). */
function route() {
  const p = new URLSearchParams(location.search);
  const view = p.get('view') || '';
  if (view === 'object') {
    showView('object');
    showObject(objectFromParams(p));
    return;
  }
  if (view === 'alerts') {
    showView('alerts');
    showAlerts(p.get('since') || '24h');
    return;
  }
  if (view === 'hunt') {
    showView('hunt');
    showHunt(huntFromParams(p));
    return;
  }
  if (view === 'searches') {
    showView('searches');
    showSearches();
    return;
  }
  if (view === 'user') {
    showView('user');
    showPerson(p.get('user') || '', p.get('since') || '24h');
    return;
  }
  const s = readUrlState();
  showStateInForm(s);
  const wasSearch = shownView === 'search' && searchCtl !== null;
  showView('search');
  if (!wasSearch || filterKey(s) !== filterKey(current)) return runSearch(s);
  if (s.event) openByKey(s.event, searchCtl && searchCtl.signal);
  else closeDetail(false);
}

/** Follows a same-page link without reloading the page. */
function navigate(url) {
  history.pushState(null, '', url);
  route();
}

// ---- Search ----------------------------------------------------------------------------

let searchCtl = null;     // AbortController of the running search (and its "Load more")
let cursor = '';          // X-Auditship-Next-Cursor of the last page
let shown = 0;            // rows in the table

/** Runs a search for a state: events, histogram, facets and count, in parallel. */
function runSearch(s) {
  if (searchCtl) searchCtl.abort();
  searchCtl = new AbortController();
  const signal = searchCtl.signal;
  if (!s.event && !$('detail').hidden) closeDetail(false);
  current = { ...s };
  clearError();
  clearResults();
  $('match-count').textContent = '';
  $('results').setAttribute('aria-busy', 'true');
  setStatus('Searching…');
  const f = filterParams(s);
  // The page's first search marks when its first page and its whole view were rendered (read by
  // `auditship bench` in headless chromium).
  const first = performance.getEntriesByName('auditship:first-page').length === 0;
  for (const format of ['ndjson', 'csv']) $('export-' + format).setAttribute('href', '/v1/export?' + encodeParams({ ...f, format }));
  const jobs = [
    loadPage(f, '', signal).then(() => {
      if (first && !signal.aborted) performance.mark('auditship:first-page');
      if (current.event) openByKey(current.event, signal);
      return loadIntegrity(f, signal);
    }),
    loadHistogram(s, signal),
    loadFacets(f, signal),
    loadCount(f, signal),
  ].map((p) => p.catch(report));
  Promise.all(jobs).then(() => {
    if (signal.aborted) return;
    if (first) performance.mark('auditship:view-complete');
    $('results').removeAttribute('aria-busy');
    setStatus(`${shown} shown${cursor ? ', more available' : ''}`);
  });
}

const setStatus = (text) => { $('status').textContent = text; };

/** Fetches one page of events (after `after`, when given) and appends it to the table. */
async function loadPage(f, after, signal) {
  const res = await api('/v1/events', { ...f, limit: PAGE_SIZE, after }, signal);
  const next = res.headers.get('X-Auditship-Next-Cursor') || '';
  if (!after) liveFrom = res.headers.get('X-Auditship-Last-Sequence') || '';
  const records = parseNdjson(await res.text());
  if (signal.aborted) return;
  appendRows(records);
  cursor = next;
  $('load-more').hidden = !cursor;
}

/** "Load more": the next page, by cursor. */
async function loadMore() {
  const btn = $('load-more');
  if (!cursor || btn.disabled || !searchCtl) return;
  btn.disabled = true;
  btn.textContent = 'Loading…';
  try {
    await loadPage(filterParams(current), cursor, searchCtl.signal);
    setStatus(`${shown} shown${cursor ? ', more available' : ''}`);
  } catch (err) { report(err); } finally {
    btn.disabled = false;
    btn.textContent = 'Load more';
  }
}

/** The match count: /v1/events?count=true (answered from the store's rollups where it can). */
async function loadCount(f, signal) {
  const res = await api('/v1/events', { ...f, count: 'true' }, signal);
  const total = Number((await res.text()).trim());
  if (!signal.aborted && Number.isFinite(total)) $('match-count').textContent = String(total);
}

// ---- Integrity -------------------------------------------------------------------------

/** Whether the first page's events are covered by a signed checkpoint that verifies (GET /v1/proof). */
async function loadIntegrity(f, signal) {
  const box = $('integrity');
  box.hidden = true;
  box.replaceChildren();
  if (!shown) return;
  let s;
  try {
    s = await getJSON('/v1/proof', { ...f, limit: PAGE_SIZE }, signal);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    return;   // a store without a chain: no line
  }
  if (signal.aborted || !isObj(s)) return;
  const n = Number(get(s, 'events')) || 0, ok = Number(get(s, 'verified')) || 0;
  const tail = Number(get(s, 'unsignedTail')) || 0, unchained = Number(get(s, 'unchained')) || 0;
  const problems = Array.isArray(get(s, 'problems')) ? s.problems.map(str) : [];
  const cps = Array.isArray(get(s, 'checkpoints')) ? s.checkpoints : [];
  const keys = str(get(s, 'keys')) === 'aggregator' ? "the aggregator's signing key" : 'the key the store recorded';
  let state, text;
  if (problems.length) {
    state = 'bad';
    text = `✖ The ${n} shown do not verify: ${problems[0]}`;
  } else if (ok === n) {
    state = 'ok';
    const cp = cps[0];
    text = `✔ The ${n} shown are covered by a signed checkpoint` + (cp ? ` (${str(get(cp, 'chain'))} height ${str(get(cp, 'height'))}, signed ${shortTime(str(get(cp, 'signedAt')))})` : '');
  } else {
    state = 'warn';
    const parts = [`${ok} of the ${n} shown covered by a signed checkpoint`];
    if (tail) parts.push(`${tail} newer than the last checkpoint (not signed yet)`);
    if (unchained) parts.push(`${unchained} stored before the chain existed`);
    text = '◐ ' + parts.join('; ');
  }
  box.className = 'integrity integrity-' + state;
  box.dataset.state = state;
  box.setAttribute('title', titleText(`Checked with ${keys}. For evidence, check the proof bundle with auditship verify --proof and your own copy of the public key.`));
  box.append(el('span', {}, textNodes(clip(text, 300))), ' ',
    el('a', { href: '/v1/proof?' + encodeParams({ ...f, limit: 1000, format: 'bundle' }), download: 'auditship-proof.json',
      'data-testid': 'proof-bundle' }, 'proof bundle'));
  box.hidden = false;
}

// ---- Live tail -------------------------------------------------------------------------

const LIVE_EVERY_MS = 2000;
const LIVE_MAX_ROWS = 1000;
let liveFrom = '';        // X-Auditship-Last-Sequence: new events are those stored after it
let liveTimer = null;
let liveBusy = false;

/** Turns the live tail on or off: new matching events appear above the results as they are stored. */
function setLive(on) {
  $('live').setAttribute('aria-pressed', on ? 'true' : 'false');
  $('live').classList.toggle('on', on);
  if (liveTimer) { clearInterval(liveTimer); liveTimer = null; }
  if (on) liveTimer = setInterval(liveTick, LIVE_EVERY_MS);
}

async function liveTick() {
  if (liveBusy || !liveFrom || shownView !== 'search' || !searchCtl) return;
  liveBusy = true;
  const signal = searchCtl.signal;
  try {
    // Pages of arrivals in the order they were stored, until none is left.
    for (let round = 0; round < 10; round++) {
      const res = await api('/v1/events', { ...filterParams(current), ingestedAfter: liveFrom, limit: 500 }, signal);
      const records = parseNdjson(await res.text());
      if (signal.aborted) return;
      liveFrom = res.headers.get('X-Auditship-Last-Sequence') || liveFrom;
      if (!records.length) break;
      const body = $('live-rows');
      const frag = document.createDocumentFragment();
      for (const rec of records.reverse()) {
        const tr = eventRow(rec);
        tr.classList.add('live-row');
        frag.append(tr);
      }
      body.prepend(frag);
      while (body.rows.length > LIVE_MAX_ROWS) body.lastElementChild.remove();
      const count = Number($('match-count').textContent);
      if (Number.isFinite(count) && $('match-count').textContent !== '') $('match-count').textContent = String(count + records.length);
      body.querySelector('tr.no-rows')?.remove();
      tbody().querySelector('tr.no-rows')?.remove();
      if (records.length < 500) break;
    }
  } catch (err) { report(err); } finally { liveBusy = false; }
}

// ---- Results table ---------------------------------------------------------------------

const rowRecords = new WeakMap();   // tr -> {cluster, node, event}
const tbody = () => $('result-rows');

function clearResults() {
  tbody().replaceChildren();
  $('live-rows').replaceChildren();
  cursor = '';
  shown = 0;
  $('load-more').hidden = true;
}

/** A table cell showing `text` (clipped with an ellipsis by CSS, full value in the title). */
function cell(text, cls) {
  const td = el('td', cls ? { class: cls } : {});
  if (text) {
    td.setAttribute('title', titleText(text));
    td.append(el('span', {}, textNodes(text)));
  }
  return td;
}

/** The table row for one event record. */
function eventRow(rec) {
  const ev = rec.event;
  const time = str(get(ev, 'requestReceivedTimestamp') || get(ev, 'stageTimestamp'));
  const resource = str(get(ev, 'objectRef', 'resource'));
  const sub = str(get(ev, 'objectRef', 'subresource'));
  const code = get(ev, 'responseStatus', 'code');
  const codeClass = Number.isInteger(code) && code >= 100 && code < 600 ? ` code-${Math.floor(code / 100)}xx` : '';
  const tr = el('tr', {
    class: 'event-row', tabindex: '0',
    'data-auditid': str(get(ev, 'auditID')), 'data-stage': str(get(ev, 'stage')),
  });
  const timeCell = cell(shortTime(time), 't');
  if (time) timeCell.setAttribute('title', titleText(time));
  tr.append(
    timeCell,
    cell(rec.cluster),
    cell(str(get(ev, 'user', 'username'))),
    cell(str(get(ev, 'verb'))),
    resource ? cell(sub ? `${resource}/${sub}` : resource) : cell(str(get(ev, 'requestURI')), 'uri'),
    cell(str(get(ev, 'objectRef', 'namespace'))),
    cell(str(get(ev, 'objectRef', 'name'))),
    cell(str(code), 'code' + codeClass),
    cell(str(get(ev, 'stage'))),
  );
  rowRecords.set(tr, rec);
  return tr;
}

function appendRows(records) {
  const body = tbody();
  body.querySelector('tr.no-rows')?.remove();
  const frag = document.createDocumentFragment();
  for (const rec of records) frag.append(eventRow(rec));
  body.append(frag);
  shown += records.length;
  if (!shown) body.append(el('tr', { class: 'no-rows' }, el('td', { colspan: '9', text: 'No events match this search.' })));
}

/** Opens the row's event; arrow keys move between rows. */
function onTableEvent(e) {
  const tr = e.target.closest('tr.event-row');
  if (!tr) return;
  if (e.type === 'click' || e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    openDetail(rowRecords.get(tr), tr, true);
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    const next = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
    if (next && next.classList.contains('event-row')) {
      e.preventDefault();
      next.focus();
      if (!$('detail').hidden) openDetail(rowRecords.get(next), next, true);
    }
  }
}

// ---- Event detail ----------------------------------------------------------------------

let detailRecord = null;

/** An event's permalink key: "<auditID>:<stage>". */
const eventKey = (ev) => {
  const id = str(get(ev, 'auditID')), stage = str(get(ev, 'stage'));
  return stage ? `${id}:${stage}` : id;
};

/** {id, stage} from a key; the stage is optional. */
function parseKey(key) {
  const i = key.lastIndexOf(':');
  if (i > 0 && STAGES.includes(key.slice(i + 1))) return { id: key.slice(0, i), stage: key.slice(i + 1) };
  return { id: key, stage: '' };
}

const matchesKey = (ev, k) => str(get(ev, 'auditID')) === k.id && (!k.stage || str(get(ev, 'stage')) === k.stage);


function openDetail(rec, tr, updateUrl) {
  if (!rec) return;
  detailRecord = rec;
  const ev = rec.event;
  for (const row of $('results').querySelectorAll('tr.selected')) row.classList.remove('selected');
  if (tr) tr.classList.add('selected');

  const meta = $('detail-meta');
  meta.replaceChildren();
  const fields = [
    ['Cluster', rec.cluster], ['Node', rec.node],
    ['Time', str(get(ev, 'requestReceivedTimestamp') || get(ev, 'stageTimestamp'))],
    ['Stage', str(get(ev, 'stage'))], ['Audit ID', str(get(ev, 'auditID'))],
    ['Request URI', str(get(ev, 'requestURI'))],
  ];
  for (const [label, value] of fields) meta.append(el('dt', { text: label }), el('dd', {}, textNodes(value)));
  $('detail-json').textContent = prettyJson(ev);

  current.event = eventKey(ev);
  $('permalink').setAttribute('href', pageUrl(current));
  const user = str(get(ev, 'user', 'username'));
  $('user-activity').hidden = !user;
  if (user) $('user-activity').setAttribute('href', personUrl(user, isRelative(current.since) && !current.until ? current.since : '24h'));
  const o = objectOf(rec);
  $('object-history').hidden = !o;
  if (o) $('object-history').setAttribute('href', objectUrl(o));
  $('detail').hidden = false;
  if (updateUrl) history.replaceState(null, '', pageUrl(current));
}

function closeDetail(updateUrl) {
  $('detail').hidden = true;
  detailRecord = null;
  for (const row of $('results').querySelectorAll('tr.selected')) row.classList.remove('selected');
  current.event = '';
  if (updateUrl) history.replaceState(null, '', pageUrl(current));
}

/** Opens the event named by a permalink key: from the table, else fetched by auditID. */
async function openByKey(key, signal) {
  const k = parseKey(key);
  for (const tr of $('results').querySelectorAll('tr.event-row')) {
    if (matchesKey(rowRecords.get(tr).event, k)) {
      openDetail(rowRecords.get(tr), tr, false);
      tr.scrollIntoView({ block: 'nearest' });
      return;
    }
  }
  try {
    const res = await api('/v1/events', { q: 'auditID:' + quoteValue(k.id), limit: PAGE_SIZE }, signal);
    const rec = parseNdjson(await res.text()).find((r) => matchesKey(r.event, k));
    if (signal && signal.aborted) return;
    if (rec) openDetail(rec, null, false);
    else showError(`Event ${key} was not found.`, false);
  } catch (err) { report(err); }
}

/** Copies the shown JSON; when the clipboard is unavailable, selects it instead. */
async function copyJson() {
  const btn = $('copy-json');
  const pre = $('detail-json');
  try {
    await navigator.clipboard.writeText(pre.textContent);
    flash(btn, 'Copied');
  } catch {
    const range = document.createRange();
    range.selectNodeContents(pre);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    flash(btn, 'Selected: press Ctrl+C');
  }
}

function flash(btn, text) {
  btn.textContent = text;
  setTimeout(() => { btn.textContent = 'Copy JSON'; }, 1500);
}

/** "Same request": every stage of this request (same auditID), in the current time range. */
function sameRequest() {
  if (!detailRecord) return;
  $('search-input').value = 'auditID:' + quoteValue(str(get(detailRecord.event, 'auditID')));
  closeDetail(false);
  submitSearch();
}

// ---- Histogram -------------------------------------------------------------------------

let hist = null;      // {start, width, counts, label}
let geom = null;      // drawn geometry: {left, plotWidth, top, plotHeight, barWidth}
let brush = null;     // the drag-selection rect

/** The histogram width label and ms for a range: the smallest giving at most MAX_BARS bars. */
function pickBucket(spanMs) {
  for (const label of BUCKETS) {
    const ms = durationMs(label);
    if (spanMs / ms <= MAX_BARS) return { label, ms };
  }
  return { label: '30d', ms: durationMs('30d') };
}

async function loadHistogram(s, signal) {
  const now = Date.now();
  const to = resolveTime(s.until, now) ?? now;
  const from = resolveTime(s.since, now) ?? to - UNIT_MS.d;
  const clear = () => { hist = null; drawHistogram(); };
  if (!(to > from)) return clear();
  const bucket = pickBucket(to - from);
  let data;
  try {
    data = await getJSON('/v1/histogram', { ...filterParams(s), bucket: bucket.label }, signal);
  } catch (err) {
    if (!signal.aborted) clear();
    throw err;
  }
  if (signal.aborted) return;
  // Buckets start on multiples of the width; missing buckets are zero.
  const start = Math.floor(from / bucket.ms) * bucket.ms;
  const counts = new Array(Math.min(1000, Math.max(1, Math.ceil((to - start) / bucket.ms)))).fill(0);
  for (const item of Array.isArray(data) ? data : []) {
    const t = Date.parse(str(get(item, 'start')));
    const c = Number(get(item, 'count'));
    if (!Number.isFinite(t) || !Number.isFinite(c)) continue;
    const i = Math.floor((t - start) / bucket.ms);
    if (i >= counts.length && i < counts.length + 3) while (counts.length <= i) counts.push(0);   // clock skew
    if (i >= 0 && i < counts.length) counts[i] += c;
  }
  hist = { start, width: bucket.ms, counts, label: bucket.label };
  drawHistogram();
}

/** An x-axis label for a bucket start. */
function tickLabel(ms, width, span) {
  const iso = new Date(ms).toISOString();
  if (width >= UNIT_MS.d) return iso.slice(0, 10);
  if (span > 1.5 * UNIT_MS.d) return iso.slice(5, 10) + ' ' + iso.slice(11, 16);
  if (width < UNIT_MS.m) return iso.slice(11, 19);
  return iso.slice(11, 16) === '00:00' ? iso.slice(5, 10) : iso.slice(11, 16);
}

function svgText(x, y, text, anchor) {
  const t = svgEl('text', { x, y, 'text-anchor': anchor });
  t.textContent = text;
  return t;
}

function drawHistogram() {
  const box = $('histogram');
  box.replaceChildren();
  geom = null;
  if (!hist) return;
  const W = Math.max(240, box.clientWidth), H = Math.max(60, box.clientHeight || 120);
  const left = 44, right = 8, top = 8, bottom = 18;
  const plotWidth = W - left - right, plotHeight = H - top - bottom;
  const { counts, start, width } = hist;
  const n = counts.length, barWidth = plotWidth / n, gap = barWidth > 4 ? 1 : 0;
  const max = Math.max(1, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `${total} events in ${n} buckets of ${hist.label}` });

  // Axes: baseline, top grid line, count labels.
  svg.append(
    svgEl('line', { class: 'grid', x1: left, x2: W - right, y1: top + 0.5, y2: top + 0.5 }),
    svgEl('line', { class: 'axis', x1: left, x2: W - right, y1: top + plotHeight + 0.5, y2: top + plotHeight + 0.5 }),
    svgText(left - 6, top + 4, String(max), 'end'),
    svgText(left - 6, top + plotHeight, '0', 'end'),
  );

  // Bars: a full-height hover area and the bar, both titled with the bucket's range and count.
  counts.forEach((c, i) => {
    const x = left + i * barWidth;
    const h = c ? Math.max(1, (c / max) * plotHeight) : 0;
    const title = `${toRfc3339(start + i * width)} – ${toRfc3339(start + (i + 1) * width)}: ${c} event${c === 1 ? '' : 's'}`;
    const hit = svgEl('rect', { class: 'hit', x, y: top, width: barWidth, height: plotHeight });
    const bar = svgEl('rect', { class: 'bar', x: x + gap / 2, y: top + plotHeight - h,
      width: Math.max(0.5, barWidth - gap), height: h, 'data-count': c, 'data-start': toRfc3339(start + i * width) });
    hit.append(svgTitle(title));
    bar.append(svgTitle(title));
    const g = svgEl('g', { class: 'slot' });
    g.append(hit, bar);
    svg.append(g);
  });

  // X-axis labels, about one per 90 px.
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotWidth / 90))));
  for (let i = 0; i < n; i += every) {
    const x = left + i * barWidth;
    if (x > W - right - 30) break;
    svg.append(svgEl('line', { class: 'axis', x1: x, x2: x, y1: top + plotHeight, y2: top + plotHeight + 4 }),
      svgText(x, H - 4, tickLabel(start + i * width, width, n * width), i === 0 ? 'start' : 'middle'));
  }
  if (!total) svg.append(svgText(left + plotWidth / 2, top + plotHeight / 2, 'No events in this range', 'middle'));

  brush = svgEl('rect', { class: 'brush', x: 0, y: top, width: 0, height: plotHeight, visibility: 'hidden' });
  svg.append(brush);
  box.append(svg);
  geom = { left, plotWidth, barWidth };
}

function svgTitle(text) {
  const t = svgEl('title');
  t.textContent = text;
  return t;
}

/** Drag across the histogram to zoom to that range; a click on a bar zooms to its bucket. */
function initHistogramDrag() {
  const box = $('histogram');
  let startX = null;
  const localX = (e) => {
    const x = e.clientX - box.getBoundingClientRect().left;
    return Math.min(Math.max(x, geom.left), geom.left + geom.plotWidth);
  };
  const xToTime = (x) => hist.start + ((x - geom.left) / geom.barWidth) * hist.width;
  const setBrush = (x, w) => {
    if (!brush) return;
    brush.setAttribute('x', x);
    brush.setAttribute('width', w);
    brush.setAttribute('visibility', w > 0 ? 'visible' : 'hidden');
  };
  box.addEventListener('pointerdown', (e) => {
    if (!geom || e.button !== 0) return;
    startX = localX(e);
    box.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  box.addEventListener('pointermove', (e) => {
    if (startX === null || !geom) return;
    const x = localX(e);
    setBrush(Math.min(x, startX), Math.abs(x - startX));
  });
  box.addEventListener('pointerup', (e) => {
    if (startX === null || !geom) return;
    const x = localX(e), a = Math.min(x, startX), b = Math.max(x, startX);
    startX = null;
    setBrush(0, 0);
    if (b - a >= 4) return zoomTo(xToTime(a), xToTime(b));
    const i = Math.min(hist.counts.length - 1, Math.floor((x - geom.left) / geom.barWidth));
    if (hist.counts[i] > 0) zoomTo(hist.start + i * hist.width, hist.start + (i + 1) * hist.width);
  });
  box.addEventListener('pointercancel', () => { startX = null; setBrush(0, 0); });
  // Redraw when the width changes.
  let lastWidth = 0;
  new ResizeObserver(() => {
    if (box.clientWidth !== lastWidth) { lastWidth = box.clientWidth; requestAnimationFrame(drawHistogram); }
  }).observe(box);
}

/** Sets an absolute range (whole seconds) and searches. */
function zoomTo(fromMs, toMs) {
  const from = Math.floor(fromMs / 1000) * 1000;
  const to = Math.max(from + 1000, Math.ceil(toMs / 1000) * 1000);
  $('range-select').value = 'custom';
  $('since-input').value = new Date(from).toISOString().slice(0, 19);
  $('until-input').value = new Date(to).toISOString().slice(0, 19);
  submitSearch();
}

// ---- Facets ----------------------------------------------------------------------------

async function loadFacets(f, signal) {
  $('facets').setAttribute('aria-busy', 'true');
  try {
    const data = await getJSON('/v1/facets', { ...f, fields: FACET_FIELDS.join(','), top: 10 }, signal);
    if (!signal.aborted) renderFacets(isObj(data) ? data : {});
  } catch (err) {
    if (!signal.aborted) $('facets').replaceChildren();
    throw err;
  } finally {
    if (!signal.aborted) $('facets').removeAttribute('aria-busy');
  }
}

function renderFacets(data) {
  const box = $('facets');
  box.replaceChildren();
  for (const field of FACET_FIELDS) {
    const values = get(data, field);
    if (!Array.isArray(values)) continue;
    const list = el('ul');
    for (const item of values) {
      const value = str(get(item, 'value'));
      const count = Number(get(item, 'count')) || 0;
      const term = facetTerm(field, value);
      const label = el('button', { type: 'button', class: 'facet-include', title: titleText('Filter: ' + term) },
        value ? textNodes(value) : '(empty)');
      if (!value) label.classList.add('empty-value');
      list.append(el('li', { class: 'facet-value', 'data-field': field, 'data-value': value },
        label,
        el('span', { class: 'count', text: String(count) }),
        el('button', { type: 'button', class: 'facet-exclude', title: titleText('Exclude: -' + term),
          'aria-label': 'Exclude', text: '−' })));
    }
    if (!values.length) list.append(el('li', { class: 'muted', text: 'no values' }));
    box.append(el('section', { class: 'facet', 'data-field': field }, el('h3', { text: field }), list));
  }
  if (!box.childElementCount) box.append(el('p', { class: 'muted', text: 'No field values.' }));
}

/** A click on a facet value adds field:value to the search; on its "−", -field:value. */
function onFacetClick(e) {
  const item = e.target.closest('.facet-value');
  if (!item) return;
  const term = facetTerm(item.dataset.field, item.dataset.value);
  $('search-input').value = addTerm($('search-input').value, term, !!e.target.closest('.facet-exclude'));
  submitSearch();
}

// ---- Header: data source ---------------------------------------------------------------

async function loadInfo() {
  try {
    const info = await getJSON('/ui/info', {});
    const source = str(get(info, 'source'));
    const version = str(get(info, 'version'));
    $('source').replaceChildren(textNodes(clip(source, 300)));
    $('source').setAttribute('title', titleText(source + (version ? ` (auditship ${version})` : '')));
    const user = str(get(info, 'user'));
    if (user) {
      $('signed-in').replaceChildren(textNodes(clip(user, 120)));
      $('signed-in').setAttribute('title', titleText('Signed in as ' + user));
      $('signed-in').hidden = false;
    }
    $('nav-searches').hidden = get(info, 'admin') !== true;
  } catch { /* the header works without it */ }
}

// ---- Wiring ----------------------------------------------------------------------------

function init() {
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); submitSearch(); });
  $('range-select').addEventListener('change', () => {
    const range = $('range-select').value;
    if (range === 'custom') {
      const now = Date.now();
      if (!$('since-input').value) $('since-input').value = toLocalInput(current.since, now);
      if (!$('until-input').value) $('until-input').value = toLocalInput(current.until || toRfc3339(now), now);
      $('since-input').focus();
    } else {
      $('since-input').value = '';
      $('until-input').value = '';
      submitSearch();
    }
  });
  for (const id of ['since-input', 'until-input']) {
    $(id).addEventListener('input', () => { $('range-select').value = 'custom'; });
  }
  $('facets').addEventListener('click', onFacetClick);
  for (const body of [tbody(), $('live-rows')]) {
    body.addEventListener('click', onTableEvent);
    body.addEventListener('keydown', onTableEvent);
  }
  $('live').addEventListener('click', () => setLive($('live').getAttribute('aria-pressed') !== 'true'));
  $('load-more').addEventListener('click', loadMore);
  $('detail-close').addEventListener('click', () => closeDetail(true));
  $('copy-json').addEventListener('click', copyJson);
  $('same-request').addEventListener('click', sameRequest);
  $('permalink').addEventListener('click', (e) => {
    e.preventDefault();
    history.pushState(null, '', $('permalink').getAttribute('href'));
  });
  $('error-close').addEventListener('click', clearError);
  $('error-retry').addEventListener('click', () => runSearch(current));
  document.addEventListener('keydown', (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
    if (e.key === 'Escape' && !$('detail').hidden) closeDetail(true);
    else if (e.key === '/' && !typing) { e.preventDefault(); $('search-input').focus(); }
  });
  // Back/forward: restore the view from the URL.
  window.addEventListener('popstate', route);
  for (const id of ['nav-search', 'nav-alerts', 'nav-hunt', 'nav-searches', 'object-history', 'object-search', 'user-activity', 'person-search']) {
    $(id).addEventListener('click', (e) => {
      if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;   // new tab: the browser's way
      e.preventDefault();
      navigate($(id).getAttribute('href'));
    });
  }
  $('object-timeline').addEventListener('click', (e) => {
    const a = e.target.closest('a.open-event');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  $('searches').tBodies[0].addEventListener('click', (e) => {
    const a = e.target.closest('a.open-search');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  $('alerts').tBodies[0].addEventListener('click', (e) => {
    const a = e.target.closest('a[data-testid="alert-event"]');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  $('hunt-firings').tBodies[0].addEventListener('click', (e) => {
    const a = e.target.closest('a[data-testid="hunt-event"]');
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.getAttribute('href'));
  });
  $('hunt-range').addEventListener('change', onHuntRangeChange);
  $('hunt-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const s = readHuntForm();
    if (!s) return;
    // The range and the flag (and short rules) in the URL; the same state replaces, a new one is pushed.
    const url = huntUrl(s);
    if (url !== location.search) history.pushState(null, '', url);
    runHunt(s);
  });
  for (const id of ['person-failures', 'person-activity']) {
    $(id).addEventListener('click', (e) => {
      const a = e.target.closest('a.person-search');
      if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
      e.preventDefault();
      navigate(a.getAttribute('href'));
    });
  }
  $('person-range').addEventListener('change', () => {
    navigate(personUrl(new URLSearchParams(location.search).get('user') || '', $('person-range').value));
  });
  $('object-reads').addEventListener('change', renderObject);
  $('object-managed').addEventListener('change', renderObject);
  $('object-more').addEventListener('click', loadMoreObject);
  $('alerts-range').addEventListener('change', () => navigate('?' + encodeParams({ view: 'alerts', since: $('alerts-range').value })));
  initHistogramDrag();
  initSuggest();
  loadInfo();
  shownView = '';
  route();
}

init();
