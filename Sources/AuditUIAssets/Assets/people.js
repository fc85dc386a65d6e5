// auditship web UI: one user's (or service account's) activity over a range: what they did,
// grouped by verb and resource, failures (4xx and 5xx) first. Every count comes from the
// facets API (the store's rollups), one request per verb, never from events in memory.
// User names and resources are attacker-controlled text: rendered with textContent only.

import { $, el, encodeParams, get, getJSON, quoteValue, report, str, textNodes, titleText } from './core.js';

const TOP_VERBS = 20;
const TOP_RESOURCES = 50;
let ctl = null;

/** The page URL of a user's activity. */
export const personUrl = (user, since) => '?' + encodeParams({ view: 'user', user, since: since || '24h' });

/** The search-view URL of the user's events with some more terms. */
function searchUrl(user, since, terms) {
  return '?' + encodeParams({ q: [`user:${quoteValue(user)}`, ...terms].join(' '), since });
}

/** Counts per (verb, resource) of `q`: one facets request for the verbs, then one per verb. */
async function pairs(q, since, signal) {
  const verbs = await getJSON('/v1/facets', { q, since, fields: 'verb', top: TOP_VERBS }, signal);
  const out = [];
  const perVerb = await Promise.all((Array.isArray(get(verbs, 'verb')) ? verbs.verb : []).map(async (v) => {
    const verb = str(get(v, 'value'));
    const r = await getJSON('/v1/facets', { q: `${q} verb:${quoteValue(verb)}`, since, fields: 'resource', top: TOP_RESOURCES }, signal);
    return { verb, total: Number(get(v, 'count')) || 0, resources: Array.isArray(get(r, 'resource')) ? r.resource : [] };
  }));
  for (const v of perVerb) {
    let listed = 0;
    for (const r of v.resources) {
      const count = Number(get(r, 'count')) || 0;
      listed += count;
      out.push({ verb: v.verb, resource: str(get(r, 'value')), count });
    }
    // Requests without a resource (non-resource URLs such as /healthz) or beyond the top ones.
    if (v.total > listed) out.push({ verb: v.verb, resource: '', count: v.total - listed });
  }
  return out;
}

/** Shows a user's activity in a range. */
export async function showPerson(user, since) {
  if (ctl) ctl.abort();
  ctl = new AbortController();
  const signal = ctl.signal;
  $('person-title').replaceChildren(textNodes(user));
  $('person-title').setAttribute('title', titleText(user));
  const range = $('person-range');
  // A time the URL names that is not one of the choices (an absolute time, another span) is
  // kept as a choice of its own, not silently replaced by the last 24 hours.
  range.querySelectorAll('option[data-from-url]').forEach((o) => o.remove());
  if (since && ![...range.options].some((o) => o.value === since)) {
    range.append(el('option', { value: since, 'data-from-url': '' }, textNodes(`since ${since}`)));
  }
  range.value = since || '24h';
  $('person-search').setAttribute('href', searchUrl(user, range.value, []));
  $('person-failures').replaceChildren();
  $('person-activity').replaceChildren();
  $('person-summary').textContent = 'Loading…';
  if (!user) { $('person-summary').textContent = 'No user given.'; return; }
  const q = `user:${quoteValue(user)}`;
  try {
    // 4xx and 5xx asked apart: a code class is a rollup dimension, a list of them is not.
    const [all, refused, failed5xx] = await Promise.all([pairs(q, range.value, signal),
      pairs(`${q} code:4xx`, range.value, signal), pairs(`${q} code:5xx`, range.value, signal)]);
    if (signal.aborted) return;
    const merged = new Map();
    for (const p of [...refused, ...failed5xx]) {
      const k = `${p.verb}\u0000${p.resource}`;
      merged.set(k, { ...p, count: (merged.get(k)?.count || 0) + p.count });
    }
    const failures = [...merged.values()];
    const total = all.reduce((s, p) => s + p.count, 0);
    const failed = failures.reduce((s, p) => s + p.count, 0);
    $('person-summary').textContent = total
      ? `${total} requests, ${failed} refused or failed (4xx, 5xx).`
      : 'No request by this user in this range.';
    const totals = new Map(all.map((p) => [`${p.verb}\u0000${p.resource}`, p.count]));
    failures.sort((a, b) => b.count - a.count || a.verb.localeCompare(b.verb));
    $('person-failures').append(table(user, range.value, failures.map((p) => ({
      ...p, of: totals.get(`${p.verb}\u0000${p.resource}`) || 0,
    })), true));
    all.sort((a, b) => a.verb.localeCompare(b.verb) || b.count - a.count);
    $('person-activity').append(table(user, range.value, all, false));
  } catch (err) {
    if (!signal.aborted) $('person-summary').textContent = '';
    report(err);
  }
}

function table(user, since, rows, failures) {
  if (!rows.length) return el('p', { class: 'muted', text: failures ? 'No failures.' : 'Nothing.' });
  const t = el('table', { class: 'results person-table', 'data-testid': failures ? 'person-failures-table' : 'person-activity-table' },
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col', text: 'Verb' }), el('th', { scope: 'col', text: 'Resource' }),
      el('th', { scope: 'col', text: failures ? 'Refused or failed' : 'Requests' }),
      ...(failures ? [el('th', { scope: 'col', text: 'Of all' })] : []))));
  const body = el('tbody');
  for (const p of rows) {
    const terms = [`verb:${quoteValue(p.verb)}`];
    if (p.resource) terms.push(`resource:${quoteValue(p.resource)}`);
    if (failures) terms.push('code:4xx,5xx');
    const link = el('a', { href: searchUrl(user, since, terms), class: 'person-search' }, textNodes(String(p.count)));
    body.append(el('tr', { class: 'person-row', 'data-verb': p.verb, 'data-resource': p.resource },
      el('td', {}, textNodes(p.verb)),
      el('td', {}, p.resource ? textNodes(p.resource) : el('span', { class: 'muted', text: '(no resource, or beyond the top 50)' })),
      el('td', { class: 'code' }, link),
      ...(failures ? [el('td', { class: 'code', text: String(p.of) })] : [])));
  }
  t.append(body);
  return t;
}

export function leavePerson() {
  if (ctl) ctl.abort();
  ctl = null;
}
