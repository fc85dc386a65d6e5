// auditship web UI: an object's states through its audit events, and line diffs between them.
// Pure functions over parsed events: no DOM, no network.

const STAGE_RANK = { RequestReceived: 0, ResponseStarted: 1, Panic: 2, ResponseComplete: 3 };
const CHANGES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const own = (o, k) => isObj(o) && Object.prototype.hasOwnProperty.call(o, k);
const at = (o, ...path) => path.reduce((v, k) => (own(v, k) ? v[k] : undefined), o);

/** One record per request (auditID): its most complete stage, in the order the requests came. */
export function requests(records) {
  const byId = new Map();
  const order = [];
  for (const rec of records) {
    const id = String(at(rec.event, 'auditID') ?? '');
    const key = id ? `${rec.cluster}\u0000${id}` : `#${order.length}`;
    const seen = byId.get(key);
    if (!seen) { byId.set(key, rec); order.push(key); continue; }
    const rank = (r) => STAGE_RANK[at(r.event, 'stage')] ?? -1;
    if (rank(rec) > rank(seen)) byId.set(key, rec);
  }
  return order.map((k) => byId.get(k));
}

/** A copy of a JSON value with keys sorted (stable diffs) and, optionally, metadata.managedFields removed. */
export function normalise(value, hideManagedFields) {
  const walk = (v, depth) => {
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (!isObj(v)) return v;
    const out = {};
    for (const k of Object.keys(v).sort()) {
      if (hideManagedFields && depth === 1 && k === 'managedFields') continue;
      out[k] = walk(v[k], k === 'metadata' && depth === 0 ? 1 : depth + 2);
    }
    return out;
  };
  return walk(value, 0);
}

/** A JSON value as lines of pretty text (two-space indent). */
export const lines = (value) => (value === undefined ? [] : JSON.stringify(value, null, 2).split('\n'));

// ---- Patches ---------------------------------------------------------------------------

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** RFC 7396 JSON merge patch; keys of strategic merge patch (`$patch`, `$retainKeys`, …) are dropped. */
export function mergePatch(target, patch) {
  if (!isObj(patch)) return clone(patch);
  const out = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function pointer(path) {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`"${path}" is not a JSON pointer`);
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 JSON patch on a copy of `target`; throws when an operation cannot apply. */
export function jsonPatch(target, ops) {
  let doc = clone(target);
  const parentOf = (parts) => {
    let node = doc;
    for (const p of parts.slice(0, -1)) {
      if (Array.isArray(node) ? !(Number(p) in node) : !own(node, p)) throw new Error(`no ${p} on the path`);
      node = node[Array.isArray(node) ? Number(p) : p];
    }
    if (node === null || typeof node !== 'object') throw new Error('the path does not reach an object or array');
    return node;
  };
  const read = (path) => {
    let node = doc;
    for (const p of pointer(path)) {
      if (Array.isArray(node) ? !(Number(p) in node) : !own(node, p)) throw new Error(`${path} does not exist`);
      node = node[Array.isArray(node) ? Number(p) : p];
    }
    return node;
  };
  const put = (path, value, insert) => {
    const parts = pointer(path);
    if (!parts.length) { doc = value; return; }
    const parent = parentOf(parts), last = parts[parts.length - 1];
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`${path}: index out of range`);
      if (insert) parent.splice(i, 0, value); else parent[i] = value;
    } else parent[last] = value;
  };
  const remove = (path) => {
    const parts = pointer(path);
    const parent = parentOf(parts), last = parts[parts.length - 1];
    if (Array.isArray(parent)) {
      const i = Number(last);
      if (!(i in parent)) throw new Error(`${path} does not exist`);
      parent.splice(i, 1);
    } else {
      if (!own(parent, last)) throw new Error(`${path} does not exist`);
      delete parent[last];
    }
  };
  for (const op of ops) {
    if (!isObj(op) || typeof op.path !== 'string') throw new Error('an operation has no path');
    switch (op.op) {
      case 'add': put(op.path, clone(op.value), true); break;
      case 'replace': read(op.path); put(op.path, clone(op.value), false); break;
      case 'remove': remove(op.path); break;
      case 'move': { const v = read(op.from); remove(op.from); put(op.path, v, true); break; }
      case 'copy': put(op.path, clone(read(op.from)), true); break;
      case 'test': if (JSON.stringify(read(op.path)) !== JSON.stringify(op.value)) throw new Error(`test of ${op.path} failed`); break;
      default: throw new Error(`unknown operation ${JSON.stringify(op.op)}`);
    }
  }
  return doc;
}

// ---- States ----------------------------------------------------------------------------

/**
 * The object's history from its requests (oldest first): for each, what it did and the state after.
 *
 * An entry: {rec, verb, code, kind, state, source, patch, note, generation, uid}
 * - kind: 'read' | 'change' | 'failed' | 'delete'
 * - source of the state: 'response' (responseObject), 'request' (the body sent, create/update),
 *   'reconstructed' (a patch applied to the state before), 'unknown' (no body logged)
 * - generation counts delete → create: the same name, a new object.
 */
export function history(records) {
  const out = [];
  let state;            // the last known state (undefined: unknown; null: deleted)
  let generation = 1;
  let uid = '';
  let deleted = false;
  for (const rec of requests(records)) {
    const ev = rec.event;
    const verb = String(at(ev, 'verb') ?? '');
    const code = at(ev, 'responseStatus', 'code');
    const level = String(at(ev, 'level') ?? '');
    const entry = { rec, verb, code, kind: 'read', state: undefined, source: 'unknown', patch: undefined, note: '', generation, uid };
    if (!CHANGES.has(verb)) {
      const response = at(ev, 'responseObject');
      // A read that returned the object is a sighting of its state (kept for diffs, not shown as a change).
      if (isObj(response) && response.kind !== 'Status' && !String(response.kind ?? '').endsWith('List')) {
        entry.state = response;
        entry.source = 'response';
      }
      out.push(entry);
      continue;
    }
    if (typeof code === 'number' && code >= 300) {
      entry.kind = 'failed';
      entry.note = `refused with ${code}: nothing changed`;
      out.push(entry);
      continue;
    }
    entry.kind = verb === 'delete' || verb === 'deletecollection' ? 'delete' : 'change';
    const response = at(ev, 'responseObject');
    const request = at(ev, 'requestObject');
    if (entry.kind === 'delete') {
      deleted = true;
      entry.state = null;
      entry.source = 'response';
      entry.note = 'deleted';
    } else {
      if (verb === 'create' && (deleted || state === null)) {
        generation += 1;
        entry.generation = generation;
        entry.note = 're-created: a new object of the same name';
      }
      deleted = false;
      if (isObj(response) && response.kind !== 'Status') {
        entry.state = response;
        entry.source = 'response';
      } else if ((verb === 'create' || verb === 'update') && isObj(request)) {
        entry.state = request;
        entry.source = 'request';
      } else if (verb === 'patch' && request !== undefined) {
        entry.patch = request;
        if (state === undefined || state === null) {
          entry.note = 'patch: the state before is unknown, so the state after cannot be reconstructed';
        } else {
          try {
            entry.state = Array.isArray(request) ? jsonPatch(state, request) : mergePatch(state, request);
            entry.source = 'reconstructed';
            entry.note = Array.isArray(request) ? 'reconstructed: JSON patch applied to the state before'
              : 'reconstructed: merge patch applied to the state before (list merge rules of strategic merge patch are not applied)';
          } catch (err) {
            entry.note = `patch could not be applied to the state before: ${err.message}`;
          }
        }
      } else {
        entry.note = level === 'Metadata' || level === 'None' ? `no body logged (level ${level})` : 'no body logged';
      }
    }
    const newUid = at(entry.state, 'metadata', 'uid');
    if (typeof newUid === 'string' && newUid) {
      if (uid && newUid !== uid && entry.kind === 'change' && !entry.note) entry.note = 'a new object (uid changed)';
      uid = newUid;
    }
    entry.uid = uid;
    out.push(entry);
    if (entry.state !== undefined) state = entry.state;
    else if (entry.kind === 'change') state = undefined;
  }
  return out;
}

// ---- Line diff -------------------------------------------------------------------------

/**
 * Myers' diff of two arrays of lines: [{op: ' ' | '-' | '+', text}], or null when more than
 * `maxEdits` lines differ (the caller shows both sides instead).
 */
export function lineDiff(a, b, maxEdits = 2000) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length, endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const x0 = a.slice(start, endA), y0 = b.slice(start, endB);
  const n = x0.length, m = y0.length, max = n + m;
  const middle = [];
  if (n === 0) for (const t of y0) middle.push({ op: '+', text: t });
  else if (m === 0) for (const t of x0) middle.push({ op: '-', text: t });
  else {
    const offset = max + 1;
    let v = new Int32Array(2 * max + 3);
    const trace = [];
    let found = false;
    for (let d = 0; d <= Math.min(max, maxEdits) && !found; d++) {
      trace.push(v.slice());
      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
        let y = x - k;
        while (x < n && y < m && x0[x] === y0[y]) { x++; y++; }
        v[offset + k] = x;
        if (x >= n && y >= m) { found = true; break; }
      }
    }
    if (!found) return null;
    // Walk back through the saved frontiers.
    let x = n, y = m;
    for (let d = trace.length - 1; d >= 0; d--) {
      const vd = trace[d];
      const k = x - y;
      const prevK = k === -d || (k !== d && vd[offset + k - 1] < vd[offset + k + 1]) ? k + 1 : k - 1;
      const prevX = vd[offset + prevK], prevY = prevX - prevK;
      while (x > prevX && y > prevY) { middle.push({ op: ' ', text: x0[x - 1] }); x--; y--; }
      if (d > 0) {
        if (x === prevX) middle.push({ op: '+', text: y0[y - 1] }); else middle.push({ op: '-', text: x0[x - 1] });
      }
      x = prevX; y = prevY;
    }
    middle.reverse();
  }
  return [
    ...a.slice(0, start).map((t) => ({ op: ' ', text: t })),
    ...middle,
    ...a.slice(endA).map((t) => ({ op: ' ', text: t })),
  ];
}

/** A diff cut to its changes with `context` lines around each: [{skipped: n} | line]. */
export function hunks(diff, context = 3) {
  const keep = new Array(diff.length).fill(false);
  diff.forEach((d, i) => {
    if (d.op === ' ') return;
    for (let j = Math.max(0, i - context); j <= Math.min(diff.length - 1, i + context); j++) keep[j] = true;
  });
  const out = [];
  let skipped = 0;
  diff.forEach((d, i) => {
    if (keep[i]) {
      if (skipped) { out.push({ skipped }); skipped = 0; }
      out.push(d);
    } else skipped++;
  });
  if (skipped) out.push({ skipped });
  return out;
}
