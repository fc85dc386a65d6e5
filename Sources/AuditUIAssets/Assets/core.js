// auditship web UI: what every view shares (DOM helpers, time, search terms, errors, HTTP).
// Every event field is attacker-controlled text: the DOM is built with createElement and
// textContent/setAttribute only, and every URL is built with encodeURIComponent.

// ---- Constants -------------------------------------------------------------------------

export const SEARCH_KEY = { namespace: 'ns' };     // facet field -> key used in q
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];
export const UNIT_MS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 };
// Characters that are invisible or reorder text: shown as visible markers, never raw.
export const HIDDEN_CHARS = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\u2028\u2029\uFEFF]/g;
export const SVG_NS = 'http://www.w3.org/2000/svg';

// ---- Small helpers ---------------------------------------------------------------------

export const $ = (id) => document.getElementById(id);
export const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads a nested own property (never an inherited one); undefined when any step is missing. */
export function get(obj, ...path) {
  let v = obj;
  for (const k of path) {
    if (!isObj(v) || !Object.prototype.hasOwnProperty.call(v, k)) return undefined;
    v = v[k];
  }
  return v;
}

/** Any JSON value as display text. */
export function str(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') { try { return JSON.stringify(v); } catch { return ''; } }
  return String(v);
}

export const clip = (s, n) => (s.length > n ? s.slice(0, n) + '…' : s);
export const codePoint = (c) => 'U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');

/** Text for a title attribute: clipped, hidden characters spelled out. */
export const titleText = (s) => clip(s, 1000).replace(HIDDEN_CHARS, (c) => `[${codePoint(c)}]`);

/** Text as DOM nodes, each hidden character replaced by a visible span.cc marker. */
export function textNodes(s) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of s.matchAll(HIDDEN_CHARS)) {
    if (m.index > last) frag.append(document.createTextNode(s.slice(last, m.index)));
    frag.append(el('span', { class: 'cc', text: codePoint(m[0]) }));
    last = m.index + m[0].length;
  }
  if (last < s.length) frag.append(document.createTextNode(s.slice(last)));
  return frag;
}

/** Creates an HTML element; `text` sets textContent, every other key is an attribute. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** Creates an SVG element with attributes. */
export function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Query string from an object, skipping empty values; %20 (not +) for spaces. */
export function encodeParams(params) {
  return Object.entries(params)
    .filter(([, v]) => v !== '' && v !== null && v !== undefined)
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(String(v)))
    .join('&');
}

// ---- Time ------------------------------------------------------------------------------

export const RELATIVE = /^(\d+)(ms|s|m|h|d)$/;
export const isRelative = (v) => RELATIVE.test(v);

/** A duration like "15m" in ms, or null. */
export function durationMs(v) {
  const m = RELATIVE.exec(v);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

/** A since/until value (relative "15m" or RFC 3339) as epoch ms; null when empty or unreadable. */
export function resolveTime(v, now) {
  if (!v) return null;
  const ago = durationMs(v);
  if (ago !== null) return now - ago;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** Epoch ms as RFC 3339 UTC, without milliseconds when they are zero. */
export const toRfc3339 = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A datetime-local value (taken as UTC) as RFC 3339, or '' when empty or invalid. */
export function fromLocalInput(v) {
  if (!v) return '';
  const full = /T\d\d:\d\d$/.test(v) ? v + ':00' : v;
  return Number.isFinite(Date.parse(full + 'Z')) ? full + 'Z' : '';
}

/** A since/until value as a datetime-local value (UTC), or ''. */
export function toLocalInput(v, now) {
  const t = resolveTime(v, now);
  return t === null ? '' : new Date(Math.round(t / 1000) * 1000).toISOString().slice(0, 19);
}

/** An event timestamp for the table, in UTC: "2026-01-02 03:04:05.123". */
export function shortTime(raw) {
  const t = Date.parse(raw);
  if (!/Z$/i.test(raw) && Number.isFinite(t)) raw = new Date(t).toISOString();   // an offset: show as UTC
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?/.exec(raw);
  if (!m) return raw;
  return `${m[1]} ${m[2]}.${(m[3] || '').slice(0, 3).padEnd(3, '0')}`;
}

// ---- Search terms ----------------------------------------------------------------------

/** Quotes a value for q when it holds spaces, colons, quotes or backslashes (or is empty). */
export function quoteValue(v) {
  if (v !== '' && !/[\s:"\\,*]/.test(v)) return v;
  return '"' + v.replace(/[\\"]/g, '\\$&') + '"';
}

/** Splits q on whitespace outside double quotes. */
export function tokenize(q) {
  const out = [];
  let cur = '', quoted = false, escaped = false;
  for (const ch of q) {
    if (escaped) { cur += ch; escaped = false; continue; }
    if (quoted && ch === '\\') { cur += ch; escaped = true; continue; }
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) { if (cur) out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** q with `term` (or `-term`) added once, replacing the same term of the opposite sign. */
export function addTerm(q, term, exclude) {
  const tokens = tokenize(q).filter((t) => t !== term && t !== '-' + term);
  tokens.push(exclude ? '-' + term : term);
  return tokens.join(' ');
}

export const facetTerm = (field, value) => `${SEARCH_KEY[field] || field}:${quoteValue(value)}`;

// ---- Errors ----------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(message, retryable) { super(message); this.name = 'ApiError'; this.retryable = !!retryable; }
}

export const errorMessages = new Set();
let errorRetryable = false;

/** Shows a message in the error bar (as text); the same message is shown once. */
export function showError(message, retryable) {
  const text = clip(String(message), 2000);
  errorRetryable = errorRetryable || !!retryable;
  if (!errorMessages.has(text)) {
    errorMessages.add(text);
    $('error-message').replaceChildren(textNodes([...errorMessages].join('\n')));
  }
  $('error-retry').hidden = !errorRetryable;
  $('error').hidden = false;
}

export function clearError() {
  errorMessages.clear();
  errorRetryable = false;
  $('error-message').replaceChildren();
  $('error').hidden = true;
}

/** Reports a failed request; aborted requests (superseded searches) are not errors. */
export function report(err) {
  if (err && err.name === 'AbortError') return;
  if (err instanceof ApiError) showError(err.message, err.retryable);
  else { console.error(err); showError('Unexpected error: ' + (err && err.message ? err.message : String(err)), false); }
}

// ---- HTTP ------------------------------------------------------------------------------

/** An ApiError from a non-2xx answer, using its JSON `message` when there is one. */
export async function responseError(res) {
  let message = '', retryable = res.status >= 500 || res.status === 429;
  try {
    const body = JSON.parse(await res.text());
    if (typeof get(body, 'message') === 'string' && body.message) message = body.message;
    else if (typeof get(body, 'error') === 'string') message = body.error;
    if (typeof get(body, 'retryable') === 'boolean') retryable = body.retryable;
  } catch { /* not JSON */ }
  if (!message) message = `The server answered HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}.`;
  return new ApiError(message, retryable);
}

/** GETs a same-origin API path; throws ApiError on network failure or a non-2xx answer. */
export async function api(path, params, signal) {
  const query = encodeParams(params);
  let res;
  try {
    res = await fetch(query ? path + '?' + query : path, { credentials: 'same-origin', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError('Cannot reach the server: ' + err.message, true);
  }
  if (!res.ok) throw await responseError(res);
  return res;
}

export async function getJSON(path, params, signal) {
  const res = await api(path, params, signal);
  try { return await res.json(); } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(`The server's answer to ${path} is not JSON.`, true);
  }
}

/** Event records from an NDJSON body: {cluster, node, event}. */
export function parseNdjson(text) {
  const out = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (!isObj(r)) { bad++; continue; }
      const ev = get(r, 'event');
      out.push({ cluster: str(get(r, 'cluster')), node: str(get(r, 'node')), event: isObj(ev) ? ev : r });
    } catch { bad++; }
  }
  if (bad) showError(`${bad} line(s) of the server's answer could not be read and were skipped.`, false);
  return out;
}

/** The event pretty-printed; hidden characters escaped as \\uXXXX (still the same JSON). */
export const prettyJson = (ev) => JSON.stringify(ev, null, 2)
  .replace(HIDDEN_CHARS, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
