// auditship web UI: hunting (POST /v1/hunt). Alert rules, ours or Sigma, pasted in, run over the
// stored events of a time range: what would have fired, each firing linked to its event.
// Nothing is recorded or sent. Rule text and firing messages (which quote event fields) are
// attacker-controlled text: rendered with textContent only.

import {
  $, clearError, el, encodeParams, fromLocalInput, get, isObj, isRelative, quoteValue, responseError,
  shortTime, str, textNodes, titleText, toLocalInput, ApiError,
} from './core.js';

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];
const DEFAULT_RANGE = '7d';
// Rules longer than this stay out of the page URL (the range and the flag are always in it).
const MAX_RULES_IN_URL = 4000;

let ctl = null;

/** The hunt view's URL for a state: relative, so it can never leave this page. */
export function huntUrl(s) {
  return '?' + encodeParams({
    view: 'hunt', since: s.since, until: s.until, builtins: s.builtins ? 'true' : '',
    rules: s.rules.length <= MAX_RULES_IN_URL ? s.rules : '',
  });
}

/** The state a page URL names. */
export function huntFromParams(p) {
  const s = { since: p.get('since') || '', until: p.get('until') || '', builtins: p.get('builtins') === 'true', rules: p.get('rules') || '' };
  if (!s.since && !s.until) s.since = DEFAULT_RANGE;
  return s;
}

/** Shows a state in the form (the rules only when the URL holds some: long rules stay as typed). */
function showInForm(s) {
  const select = $('hunt-range');
  if (!s.until && isRelative(s.since) && [...select.options].some((o) => o.value === s.since)) {
    select.value = s.since;
    $('hunt-since').value = '';
    $('hunt-until').value = '';
  } else {
    const now = Date.now();
    select.value = 'custom';
    $('hunt-since').value = toLocalInput(s.since, now);
    $('hunt-until').value = toLocalInput(s.until, now);
  }
  $('hunt-abs').hidden = select.value !== 'custom';
  $('hunt-builtins').checked = s.builtins;
  if (s.rules) $('hunt-rules').value = s.rules;
}

/** The state the form describes, or null (after saying why) when it is invalid. */
export function readHuntForm() {
  const rules = $('hunt-rules').value;
  const builtins = $('hunt-builtins').checked;
  const range = $('hunt-range').value;
  if (range !== 'custom') return { since: range, until: '', builtins, rules };
  const since = fromLocalInput($('hunt-since').value);
  const until = fromLocalInput($('hunt-until').value);
  if (since && until && Date.parse(since) >= Date.parse(until)) {
    showHuntError('The start of the time range must be before its end.');
    return null;
  }
  return { since: since || (until ? '' : DEFAULT_RANGE), until, builtins, rules };
}

/** Shows the hunt view for the state the URL names; the last answer stays shown. */
export function showHunt(s) {
  showInForm(s);
}

export function leaveHunt() {
  if (ctl) ctl.abort();
  ctl = null;
  setRunning(false);
}

/** Range select: "Absolute…" shows the two time inputs. */
export function onHuntRangeChange() {
  const custom = $('hunt-range').value === 'custom';
  $('hunt-abs').hidden = !custom;
  if (custom) {
    const now = Date.now();
    if (!$('hunt-since').value) $('hunt-since').value = toLocalInput(DEFAULT_RANGE, now);
    if (!$('hunt-until').value) $('hunt-until').value = toLocalInput(new Date(now).toISOString(), now);
  }
}

function setRunning(on) {
  $('hunt-run').disabled = on;
  $('hunt-run').textContent = on ? 'Running…' : 'Run';
  if (on) $('view-hunt').setAttribute('aria-busy', 'true'); else $('view-hunt').removeAttribute('aria-busy');
}

function showHuntError(message) {
  $('hunt-error').replaceChildren(textNodes(String(message)));
  $('hunt-error').hidden = false;
}

function clearAnswer() {
  $('hunt-error').hidden = true;
  $('hunt-error').replaceChildren();
  $('hunt-summary').textContent = '';
  $('hunt-scans').replaceChildren();
  $('hunt-warnings').replaceChildren();
  $('hunt-firings').tBodies[0].replaceChildren();
}

/** Runs the hunt a state describes and shows its answer. */
export async function runHunt(s) {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const signal = ctl.signal;
  clearError();
  clearAnswer();
  if (!s.rules.trim() && !s.builtins) {
    showHuntError('Paste some rules (ours or Sigma), or tick “also the built-in pack”.');
    return;
  }
  setRunning(true);
  $('hunt-summary').textContent = 'Hunting…';
  try {
    const query = encodeParams({ since: s.since, until: s.until, builtins: s.builtins ? 'true' : 'false' });
    let res;
    try {
      res = await fetch('/v1/hunt?' + query, {
        method: 'POST', credentials: 'same-origin', signal,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: s.rules,
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError('Cannot reach the server: ' + err.message, true);
    }
    if (!res.ok) throw await responseError(res);
    const answer = await res.json();
    if (signal.aborted) return;
    render(isObj(answer) ? answer : {});
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    $('hunt-summary').textContent = '';
    showHuntError(err instanceof ApiError ? err.message : 'Unexpected error: ' + (err && err.message ? err.message : String(err)));
  } finally {
    if (!signal.aborted) setRunning(false);
  }
}

/** The search-view URL of a firing's event (its request, with the event open). */
function eventUrl(f) {
  const id = str(get(f, 'auditID'));
  return '?' + encodeParams({ q: 'auditID:' + quoteValue(id), since: '3650d', event: `${id}:${str(get(f, 'stage'))}` });
}

function textCell(text, cls) {
  const td = el('td', cls ? { class: cls } : {});
  if (text) { td.setAttribute('title', titleText(text)); td.append(el('span', {}, textNodes(text))); }
  return td;
}

function render(a) {
  const firings = Array.isArray(get(a, 'firings')) ? a.firings : [];
  const read = Number(get(a, 'eventsRead')) || 0, parsed = Number(get(a, 'parsed')) || 0;
  const seconds = Number(get(a, 'seconds')) || 0;
  const bySeverity = new Map();
  for (const f of firings) bySeverity.set(str(get(f, 'severity')), (bySeverity.get(str(get(f, 'severity'))) || 0) + 1);
  const counts = SEVERITY_ORDER.filter((s) => bySeverity.has(s)).map((s) => `${bySeverity.get(s)} ${s}`);
  const truncated = get(a, 'truncated') === true;
  $('hunt-summary').textContent = `${read} events read (${parsed} parsed) in ${seconds.toFixed(2)} s: `
    + (firings.length
      ? `${firings.length}${truncated ? ' (the first; more would have fired)' : ''} would have fired — ${counts.join(', ')}`
      : 'no rule would have fired');
  const scans = Array.isArray(get(a, 'scans')) ? a.scans : [];
  for (const [i, scan] of scans.entries()) {
    const rules = Array.isArray(get(scan, 'rules')) ? scan.rules.map(str) : [];
    $('hunt-scans').append(el('li', { class: 'hunt-scan' },
      el('span', { class: 'muted', text: `scan ${i + 1}: ` }),
      el('code', {}, textNodes(str(get(scan, 'prefilter')))),
      el('span', { class: 'muted', text: ' — ' }),
      el('span', {}, textNodes(rules.join(', ')))));
  }
  const warnings = Array.isArray(get(a, 'warnings')) ? a.warnings.map(str) : [];
  for (const w of warnings) $('hunt-warnings').append(el('li', {}, textNodes(w)));
  const frag = document.createDocumentFragment();
  for (const f of firings) frag.append(firingRow(f));
  $('hunt-firings').tBodies[0].append(frag);
}

function firingRow(f) {
  const severity = str(get(f, 'severity'));
  const rule = str(get(f, 'rule')), id = str(get(f, 'ruleID')), level = str(get(f, 'level'));
  const tr = el('tr', { class: 'hunt-row', 'data-rule': rule, 'data-severity': severity, 'data-auditid': str(get(f, 'auditID')) });
  const ruleTd = textCell(rule);
  if (level || id) {
    ruleTd.append(el('span', { class: 'muted rule-meta' }, textNodes(` ${level ? 'level ' + level : ''}${level && id ? ', ' : ''}${id ? 'id ' + id : ''}`)));
    ruleTd.setAttribute('title', titleText(`${rule} (Sigma rule${id ? ' ' + id : ''}${level ? ', level ' + level : ''})`));
  }
  const where = [str(get(f, 'cluster')), str(get(f, 'node'))].filter(Boolean).join(' / ');
  const eventTime = str(get(f, 'eventTime'));
  const timeTd = textCell(eventTime ? shortTime(eventTime) : '', 't');
  if (eventTime) timeTd.setAttribute('title', titleText(eventTime));
  tr.append(
    timeTd,
    el('td', { class: 'sev' }, el('span', { class: `severity severity-${SEVERITY_ORDER.includes(severity) ? severity : 'info'}` }, textNodes(severity))),
    ruleTd,
    textCell(where),
    textCell(str(get(f, 'message'))),
    el('td', { class: 'links' }, el('a', { href: eventUrl(f), 'data-testid': 'hunt-event' }, 'event')));
  return tr;
}
