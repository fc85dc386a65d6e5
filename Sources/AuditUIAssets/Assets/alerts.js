// auditship web UI: the recorded alerts (GET /v1/alerts), newest first, each linked to its
// event and to the history of the object the event names.
// Alert messages quote event fields (attacker-controlled text): rendered with textContent only.

import { $, api, el, encodeParams, get, getJSON, parseNdjson, quoteValue, report, shortTime, str, textNodes, titleText } from './core.js';
import { objectOf, objectUrl } from './history.js';

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];
let ctl = null;

/** The search-view URL of an alert's event (its request, with the event open). */
function eventUrl(a) {
  return '?' + encodeParams({ q: 'auditID:' + quoteValue(str(a.auditID)), since: '3650d', event: `${str(a.auditID)}:${str(a.stage)}` });
}

/** Shows the alerts recorded in `range` (1h, 24h, 7d, …). */
export async function showAlerts(range) {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const signal = ctl.signal;
  $('alerts-range').value = [...$('alerts-range').options].some((o) => o.value === range) ? range : '24h';
  const body = $('alerts').tBodies[0];
  body.replaceChildren();
  $('alerts-summary').textContent = 'Loading…';
  try {
    const found = await getJSON('/v1/alerts', { since: $('alerts-range').value, limit: 1000 }, signal);
    if (signal.aborted) return;
    const alerts = Array.isArray(found) ? found : [];
    const bySeverity = new Map();
    for (const a of alerts) bySeverity.set(str(get(a, 'severity')), (bySeverity.get(str(get(a, 'severity'))) || 0) + 1);
    const counts = SEVERITY_ORDER.filter((s) => bySeverity.has(s)).map((s) => `${bySeverity.get(s)} ${s}`);
    $('alerts-summary').textContent = alerts.length
      ? `${alerts.length} alert${alerts.length === 1 ? '' : 's'}${alerts.length === 1000 ? ' (the newest 1000)' : ''}: ${counts.join(', ')}`
      : 'No alert was recorded in this range.';
    const frag = document.createDocumentFragment();
    for (const a of alerts) frag.append(alertRow(a));
    body.append(frag);
  } catch (err) {
    if (!signal.aborted) $('alerts-summary').textContent = '';
    report(err);
  }
}

export function leaveAlerts() {
  if (ctl) ctl.abort();
  ctl = null;
}

function textCell(text, cls) {
  const td = el('td', cls ? { class: cls } : {});
  if (text) { td.setAttribute('title', titleText(text)); td.append(el('span', {}, textNodes(text))); }
  return td;
}

/** The rule's name; a Sigma rule's id and level in its title. */
function ruleCell(a) {
  const td = textCell(str(get(a, 'rule')));
  const id = str(get(a, 'ruleID')), level = str(get(a, 'level'));
  if (id) td.setAttribute('title', titleText(`${str(get(a, 'rule'))} (Sigma rule ${id}${level ? ', level ' + level : ''})`));
  return td;
}

function alertRow(a) {
  const severity = str(get(a, 'severity'));
  const tr = el('tr', { class: 'alert-row', 'data-severity': severity, 'data-rule': str(get(a, 'rule')) });
  const fired = str(get(a, 'firedAt'));
  const eventTime = str(get(a, 'eventTime'));
  const delivery = str(get(a, 'delivery'));
  const failed = Number(get(a, 'failedAttempts')) || 0;
  const links = el('td', { class: 'links' },
    el('a', { href: eventUrl(a), 'data-testid': 'alert-event' }, 'event'), ' ',
    el('a', { href: '#', class: 'alert-history', 'data-testid': 'alert-history' }, 'object history'));
  links.querySelector('.alert-history').addEventListener('click', (e) => { e.preventDefault(); openHistory(a); });
  tr.append(
    textCell(eventTime ? shortTime(eventTime) : '', 't'),
    textCell(shortTime(fired), 't'),
    el('td', { class: 'sev' }, el('span', { class: `severity severity-${SEVERITY_ORDER.includes(severity) ? severity : 'info'}` }, textNodes(severity))),
    ruleCell(a),
    textCell(str(get(a, 'cluster'))),
    textCell(str(get(a, 'message'))),
    textCell(delivery + (failed && delivery !== 'sent' ? ` (${failed} failed)` : '')),
    links);
  return tr;
}

/** Finds the alert's event and opens the history of the object it names. */
async function openHistory(a) {
  try {
    const res = await api('/v1/events', { q: 'auditID:' + quoteValue(str(a.auditID)), cluster: str(a.cluster), limit: 10 }, ctl && ctl.signal);
    const rec = parseNdjson(await res.text())[0];
    const o = rec && objectOf(rec);
    if (!o) { $('alerts-summary').textContent = 'The event of this alert names no object.'; return; }
    history.pushState(null, '', objectUrl(o));
    window.dispatchEvent(new PopStateEvent('popstate'));
  } catch (err) { report(err); }
}
