#!/usr/bin/env node
'use strict';
// One pass over the official SDK package @alicloud/ecs20140526 writes every generated file:
//   lua/ecs/api/generated/ecs_2014_05_26.lua   the client's API model: action name -> Lua source
//                                   of its shape (compiled lazily by lua/ecs/api/init.lua); runtime
//   types/ecs_2014_05_26.lua        LuaLS annotations (---@meta) for editors only: each action's
//                                   request and reply classes and the ecs.Client helper methods.
//                                   types/ is a LuaLS library folder (installed to
//                                   share/lua-ecs/types), never on the runtime require path.
//   emulator/lua/emu/generated/paramdefs.lua   the emulator's parameter definitions: every
//                                   action's request parameters and required names, as data
//                                   (tools/lib/emulator-defs.js)
// Files of earlier layouts (lua/ecs/api/ecs_2014_05_26.lua, lua/ecs/api/ecs_2014_05_26_meta.lua,
// emulator/lua/emu/paramdefs.lua and ecs_actions.lua of emulator/tools/gen-paramdefs.js) are
// removed when found.
// Run: cd tools && npm ci && node gen-api-model.js     (the Makefile target is `make api-model`)
// Options: --check  exit 1 if the files on disk differ from what would be generated (or a file of
//                   an earlier layout is still there).
//
// What comes from where (see also the header written into the generated file):
//   actions, wire names, types, nesting   dist/models (names()/types()) + src/client.ts
//   wire style                            SDK query flattening => "repeat" (K.N, K.N.Sub) for
//                                         arrays, "flat" (K.Sub) for objects; *Shrink fields
//                                         (arrayToStringWithSpecifiedStyle(..., "json")) => "json";
//                                         string fields documented as a JSON array (@example
//                                         starting with "[" or "JSON array" in the remarks) =>
//                                         list, style "json"
//   required                              "This parameter is required." in the field's doc comment
//   integer / long / float                the SDK only says "number": float if the @example has a
//                                         fraction or the name is a price/ratio/frequency/weight;
//                                         long for *Id and *OwnerId numbers; integer otherwise
//   paging                                request params PageNumber+PageSize / NextToken(+MaxResults),
//                                         max from the size param's doc comment, else
//                                         tools/api-supplement.json; list path from the response body
//                                         model (the single wrapper.list or list field)
//   reply classes (annotations only)      the response *body* models (XxxResponseBody and its
//                                         nested classes): wire names from names(), types from
//                                         types(), the first sentence of each field's @remarks

const fs = require('fs');
const path = require('path');
const sdk = require('./lib/sdk-source');
const emulatorDefs = require('./lib/emulator-defs');
const supplement = require('./api-supplement.json');

const ROOT = path.resolve(__dirname, '..');
const OUT_MODEL = path.join(ROOT, 'lua/ecs/api/generated/ecs_2014_05_26.lua');
const OUT_TYPES = path.join(ROOT, 'types/ecs_2014_05_26.lua');
const OUT_EMULATOR = path.join(ROOT, 'emulator/lua/emu/generated/paramdefs.lua');
// Where generated files were before, and where they went: removed when found.
const MOVED = [
  ['lua/ecs/api/ecs_2014_05_26_meta.lua', OUT_TYPES],
  ['lua/ecs/api/ecs_2014_05_26.lua', OUT_MODEL],
  ['emulator/lua/emu/paramdefs.lua', OUT_EMULATOR],
  ['emulator/lua/emu/ecs_actions.lua', OUT_EMULATOR],
].map(([old, now]) => [path.join(ROOT, old), now]);

const info = sdk.packageInfo();
const models = sdk.loadModels();
const docs = sdk.parseDocComments(info.dir);
const clientActions = sdk.parseClient(info.dir).sort((a, b) => (a.action < b.action ? -1 : a.action > b.action ? 1 : 0));

const warnings = [];
const warn = (msg) => warnings.push(msg);
const byWire = (a, b) => { const x = a.name.toLowerCase(), y = b.name.toLowerCase(); return x < y ? -1 : x > y ? 1 : (a.name < b.name ? -1 : 1); };

function doc(cls, field) {
  return docs.get(cls + '.' + field) || { remarks: '', example: '', required: false };
}

function numberType(wire, d) {
  if (/^-?\d+\.\d+/.test(d.example.trim())) return 'float';
  if (/(Price|PriceLimit|Ratio|Frequency|WeightedCapacity)$/.test(wire)) return 'float';
  if (/(Id|OwnerId)$/.test(wire)) return 'long';
  return 'integer';
}

function scalarType(t, wire, d) {
  if (t === 'string') return 'string';
  if (t === 'boolean') return 'boolean';
  if (t === 'number') return numberType(wire, d);
  if (t === 'any') return 'any';
  throw new Error('unknown scalar type ' + JSON.stringify(t) + ' for ' + wire);
}

function isJsonArrayString(d) {
  return /^\s*\[/.test(d.example) || /\bJSON array\b/i.test(d.remarks);
}

// A shape node for one field. `style` is set for params and for nested lists/objects/maps so an
// encoder can walk the tree without special cases.
function fieldShape(cls, field, wire, t, encoded) {
  const d = doc(cls, field);
  const node = { name: wire, type: null };
  Object.defineProperty(node, '_doc', { value: d }); // not serialised; used for paging maxima and annotations
  if (d.required) node.required = true;
  if (typeof t === 'string') {
    node.type = scalarType(t, wire, d);
    node.style = 'flat';
    if (encoded) throw new Error(cls + '.' + field + ': json-encoded scalar');
    if (node.type === 'string' && isJsonArrayString(d)) {
      node.type = 'list';
      node.style = 'json';
      node.items = { type: 'string' };
      node.string_ok = true; // the SDK models it as a string: a ready-made JSON string is accepted as is
    }
  } else if (typeof t === 'function') {
    node.type = 'object';
    node.style = encoded ? 'json' : 'flat';
    node.members = memberShapes(t);
  } else if (t && t.type === 'array') {
    node.type = 'list';
    node.style = encoded ? 'json' : 'repeat';
    node.items = itemShape(t.itemType, wire);
  } else if (t && t.type === 'map') {
    node.type = 'map';
    node.style = encoded ? 'json' : 'flat';
    node.values = itemShape(t.valueType, wire);
  } else {
    throw new Error('unknown type for ' + cls + '.' + field + ': ' + JSON.stringify(t));
  }
  return node;
}

function itemShape(t, wire) {
  if (typeof t === 'string') return { type: scalarType(t, wire, { example: '', remarks: '' }) };
  if (typeof t === 'function') return { type: 'object', members: memberShapes(t) };
  if (t && t.type === 'array') return { type: 'list', style: 'repeat', items: itemShape(t.itemType, wire) };
  throw new Error('unknown item type for ' + wire + ': ' + JSON.stringify(t));
}

function memberShapes(Cls) {
  const names = Cls.names(), types = Cls.types();
  return Object.keys(names).map((f) => fieldShape(Cls.name, f, names[f], types[f], null)).sort(byWire);
}

// ---- response: where is the list? -------------------------------------------------------------
function listCandidates(RespBody) {
  const out = [];
  const names = RespBody.names(), types = RespBody.types();
  for (const f of Object.keys(names)) {
    const t = types[f];
    if (t && t.type === 'array') out.push(names[f]);
    else if (typeof t === 'function') {
      const n2 = t.names(), t2 = t.types();
      const keys = Object.keys(n2);
      if (keys.length === 1 && t2[keys[0]] && t2[keys[0]].type === 'array') out.push(names[f] + '.' + n2[keys[0]]);
    }
  }
  return out;
}

function responseBody(respClass) {
  const Resp = models[respClass];
  if (!Resp) throw new Error('no response class ' + respClass);
  const body = Resp.types().body;
  if (typeof body !== 'function') throw new Error(respClass + ': no body model');
  return body;
}

function maxFromRemarks(text) {
  const t = text.replace(/\s+/g, ' ');
  let m = /Maximum value:?\s*(\d+)/i.exec(t) || /maximum value is\s*(\d+)/i.exec(t);
  if (m) return Number(m[1]);
  m = /(?:Valid values|Value range|Settings|Values?):?\s*\[?\s*\d+\s*(?:to|-|~|,)\s*(\d+)/i.exec(t);
  if (m) return Number(m[1]);
  return null;
}

function pagingFor(action, params, respClass) {
  const has = (n) => params.find((p) => p.name === n);
  const sup = supplement.paging[action] || {};
  const pageOk = has('PageNumber') && has('PageSize');
  const tokenOk = has('NextToken');
  if (!pageOk && !tokenOk) return null;
  const Body = responseBody(respClass);
  const bodyNames = Object.values(Body.names());
  const cands = listCandidates(Body);
  let list = sup.list || null;
  if (!list) {
    if (cands.length === 1) list = cands[0];
    else warn(`${action}: paging list path ambiguous (${cands.join(', ') || 'none'}); add it to api-supplement.json`);
  }
  const paging = { mode: null, list };
  const sizeMax = (pname) => {
    const p = has(pname);
    const fromDoc = maxFromRemarks(p._doc.remarks);
    if (fromDoc != null) return fromDoc;
    if (sup.max && sup.max[pname] != null) return sup.max[pname];
    return null;
  };
  if (tokenOk) {
    const size = has('MaxResults') ? 'MaxResults' : null;
    paging.token = { param: 'NextToken',
                     response: sup.token_response || (bodyNames.includes('NextToken') ? 'NextToken' : null),
                     size_param: size, max: size ? sizeMax(size) : null };
    if (!paging.token.response) warn(`${action}: NextToken request param but no NextToken in response`);
  }
  if (pageOk) {
    paging.page = { number_param: 'PageNumber', size_param: 'PageSize', max: sizeMax('PageSize'),
                    total: sup.total || (bodyNames.includes('TotalCount') ? 'TotalCount' : null) };
  }
  paging.mode = tokenOk ? 'token' : 'page';
  return paging;
}

// ---- build all actions ------------------------------------------------------------------------
function buildAction(ca) {
  const Req = models[ca.reqClass];
  if (!Req) throw new Error('no request class ' + ca.reqClass);
  const names = Req.names(), types = Req.types();
  const sent = new Set(ca.query.map((q) => q.field));
  for (const f of Object.keys(names)) if (!sent.has(f)) warn(`${ca.action}: field ${f} is never sent`);
  const params = ca.query.map((q) => {
    if (!(q.field in names)) throw new Error(`${ca.action}: query field ${q.field} not in ${ca.reqClass}`);
    if (names[q.field] !== q.wire) throw new Error(`${ca.action}: wire name mismatch ${names[q.field]} vs ${q.wire}`);
    return fieldShape(ca.reqClass, q.field, q.wire, types[q.field], q.encoded);
  }).sort(byWire);
  for (let i = 1; i < params.length; i++) {
    if (params[i].name.toLowerCase() === params[i - 1].name.toLowerCase()) throw new Error(`${ca.action}: duplicate param ${params[i].name}`);
  }
  const shape = {
    name: ca.action,
    client_token: params.some((p) => p.name === 'ClientToken'),
    dry_run: params.some((p) => p.name === 'DryRun'),
    paging: pagingFor(ca.action, params, ca.respClass),
    params,
  };
  // The reply body model, for the annotations only (not enumerable: not part of the runtime model).
  Object.defineProperty(shape, '_reply', { value: responseBody(ca.respClass) });
  return shape;
}

const actions = clientActions.map(buildAction);
for (const name of Object.keys(supplement.paging)) {
  const a = actions.find((x) => x.name === name);
  if (!a || !a.paging) throw new Error(`api-supplement.json: ${name} is not a paged action`);
  for (const k of Object.keys(supplement.paging[name].max || {})) {
    const mode = k === 'PageSize' ? a.paging.page : a.paging.token;
    if (!mode || mode.size_param !== k) throw new Error(`api-supplement.json: ${name} has no size param ${k}`);
  }
}

// ---- Lua serialisation ------------------------------------------------------------------------
const KEY_ORDER = ['name', 'type', 'required', 'style', 'string_ok', 'items', 'values', 'members',
  'client_token', 'dry_run', 'mode', 'list', 'param', 'response', 'number_param', 'size_param', 'max',
  'total', 'token', 'page', 'paging', 'params'];

function luaString(s) {
  return '"' + String(s).replace(/[\\"]/g, (c) => '\\' + c).replace(/\n/g, '\\n').replace(/[\x00-\x1f]/g,
    (c) => '\\' + c.charCodeAt(0)) + '"';
}

function toLua(v) {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return luaString(v);
  if (Array.isArray(v)) return '{' + v.map(toLua).join(',') + '}';
  const keys = Object.keys(v).filter((k) => v[k] !== null && v[k] !== undefined);
  keys.sort((a, b) => {
    const ia = KEY_ORDER.indexOf(a), ib = KEY_ORDER.indexOf(b);
    if (ia < 0 || ib < 0) throw new Error('unordered key ' + (ia < 0 ? a : b));
    return ia - ib;
  });
  return '{' + keys.map((k) => k + '=' + toLua(v[k])).join(',') + '}';
}

function longBracket(src) {
  let eq = '';
  while (src.includes(']' + eq + ']')) eq += '=';
  return '[' + eq + '[' + src + ']' + eq + ']';
}

// ---- counts, for the header and the report ----------------------------------------------------
const counts = { actions: actions.length, params: 0, required: 0, styles: {}, types: {}, paging: {} };
for (const a of actions) {
  for (const p of a.params) {
    counts.params++;
    if (p.required) counts.required++;
    counts.styles[p.style] = (counts.styles[p.style] || 0) + 1;
    counts.types[p.type] = (counts.types[p.type] || 0) + 1;
  }
  const mode = a.paging ? (a.paging.token && a.paging.page ? 'token+page' : a.paging.mode) : 'none';
  counts.paging[mode] = (counts.paging[mode] || 0) + 1;
}
const fmt = (o) => Object.keys(o).sort().map((k) => `${k} ${o[k]}`).join(', ');

const regen = `-- Generated by tools/gen-api-model.js from ${info.name}@${info.version}; regenerate with: make api-model`;

function modelFile() {
  const out = [];
  out.push(regen);
  out.push('-- Do not edit. Shapes are documented in lua/ecs/api/init.lua; load them through that accessor.');
  out.push(`-- ${counts.actions} actions, ${counts.params} top-level params (${counts.required} required).`);
  out.push(`-- Styles: ${fmt(counts.styles)}. Paging: ${fmt(counts.paging)}.`);
  out.push('-- Sources, all from the SDK package: names()/types() of the Darabonba models (wire names,');
  out.push('-- types, nesting); src/client.ts (action names, query params, JSON-encoded *Shrink fields);');
  out.push('-- the models\' doc comments ("This parameter is required." => required; @example / remarks for');
  out.push('-- JSON-array strings, float-ness of numbers and page-size maxima). The SDK types numbers only');
  out.push('-- as "number": integer/long/float are inferred (see tools/gen-api-model.js). Page-size maxima');
  out.push('-- the package does not state come from the reference docs via tools/api-supplement.json.');
  out.push('return {');
  out.push('  version = "2014-05-26",');
  out.push('  product = "Ecs",');
  out.push(`  source = ${luaString(info.name + '@' + info.version)},`);
  out.push('  actions = {');
  for (const a of actions) out.push(`    ${a.name} = ${longBracket('return ' + toLua(a))},`);
  out.push('  },');
  out.push('}');
  return out.join('\n') + '\n';
}

// ---- LuaLS annotations (types/) ---------------------------------------------------------------
// Class names, all under `ecs.`:
//   ecs.<Action>Request   the params table of an action (named ecs.<Action>Params before the
//                         annotations moved to types/)
//   ecs.<Action>Reply     what the client returns: the decoded JSON response *body* (not the SDK's
//                         { headers, statusCode, body } wrapper)
//   <class>.<Field>       the object held by a field
//   <class>.<Field>Item   one element of a list field (<class>.<Field>ItemItem in a list of lists)
//   <class>.<Field>Value  the value of a map field
// e.g. res.Instances.Instance[1] of DescribeInstances is an ecs.DescribeInstancesReply.Instances.InstanceItem.
// ecs.Client, ecs.CallOptions and ecs.Error are declared by hand in lua/ecs/*.lua; LuaLS merges the
// `---@class ecs.Client` here (the generated helper methods) with the one there.
const LUALS = { string: 'string', integer: 'integer', long: 'integer', float: 'number', boolean: 'boolean', any: 'any' };

// The SDK marks every reply field optional, and the service does leave some out (NextToken on the
// last page, unset attributes). Declaring them all `?` would make LuaLS ask for a nil check at every
// step of res.Instances.Instance[1].Status, so reply fields are declared present.
const REPLY_FIELDS_OPTIONAL = false;

function luaLsType(node, cls, nested) {
  switch (node.type) {
    case 'list': {
      const item = luaLsType(node.items, cls + 'Item', nested);
      return node.string_ok ? `${item}[]|string` : `${item}[]`;
    }
    case 'object': {
      nested.push({ cls, members: node.members });
      return node.style === 'json' ? `${cls}|string` : cls;
    }
    case 'map': return `table<string, ${luaLsType(node.values, cls + 'Value', nested)}>` + (node.style === 'json' ? '|string' : '');
    default: {
      if (!LUALS[node.type]) throw new Error('no LuaLS type for ' + node.type + ' (' + cls + ')');
      return LUALS[node.type];
    }
  }
}

// Reply nodes: the same node shape as params (type/items/members/values, _doc) so luaLsType serves
// both, but taken as the JSON decodes: a string stays a string even when it holds a JSON document.
// Numbers: a field with an @example gets the request-side rule (numberType). Most nested reply
// fields have no doc comment at all; for those `integer` only when the name says it counts or
// identifies something, else `number` (MemorySize, Bandwidth, CPUCreditBalance... can be fractional).
function replyNumberType(wire, d) {
  if (d.example) return numberType(wire, d);
  if (/(Price|Ratio|Rate|Frequency|Weight|Memory|Credit|Discount)/i.test(wire)) return 'float';
  if (/(Count|Number|Numbers|Num|Nums|Quantity|Amount|Id|ID|Uid|Index|Period|Times|Port|Priority|Hour|Days|Timeout|Cpu|CPU|Cores?|Sockets|Vcpus?|Vgpus|Gpus|Code|PageSize)$/.test(wire)) return 'integer';
  return 'float';
}

function replyType(t, wire, d, where, seen) {
  if (t === 'number') return { type: replyNumberType(wire, d) };
  if (typeof t === 'string') return { type: scalarType(t, wire, d) };
  if (typeof t === 'function') return { type: 'object', members: replyMembers(t, seen) };
  if (t && t.type === 'array') return { type: 'list', items: replyType(t.itemType, wire, d, where + '[]', seen) };
  if (t && t.type === 'map') {
    if (t.keyType !== 'string') throw new Error(`${where}: map key type ${JSON.stringify(t.keyType)}`);
    return { type: 'map', values: replyType(t.valueType, wire, d, where + '{}', seen) };
  }
  throw new Error(`unknown reply type for ${where}: ${JSON.stringify(t)}`);
}

function replyMembers(Cls, seen = []) {
  if (seen.includes(Cls)) throw new Error(`${Cls.name}: recursive reply model`);
  const names = Cls.names(), types = Cls.types();
  return Object.keys(names).map((f) => {
    if (!(f in types)) throw new Error(`${Cls.name}.${f}: no type`);
    const node = replyType(types[f], names[f], doc(Cls.name, f), Cls.name + '.' + f, seen.concat([Cls]));
    node.name = names[f];
    Object.defineProperty(node, '_doc', { value: doc(Cls.name, f) });
    return node;
  }).sort(byWire);
}

// RegionId is filled in by the client from its configuration, so editors should not demand it.
function annotatedRequired(node) {
  return node.required && node.name !== 'RegionId';
}

function firstSentence(text) {
  const t = text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*>]/g, '').replace(/\s+/g, ' ').trim();
  if (!t) return '';
  const m = /^(.*?[.!?])(\s|$)/.exec(t);
  let s = m ? m[1] : t;
  if (s.length > 120) s = s.slice(0, 117).replace(/\s+\S*$/, '') + '...';
  return s;
}

// One ---@class block and, after it, those of the objects it holds. `optional(member)` says
// whether a field gets `?`.
function metaClass(lines, cls, members, descr, optional) {
  const nested = [];
  lines.push('');
  if (descr) lines.push(`--- ${descr}`);
  lines.push(`---@class ${cls}`);
  for (const m of members) {
    const t = luaLsType(m, `${cls}.${m.name}`, nested);
    const summary = m._doc ? firstSentence(m._doc.remarks) : '';
    lines.push(`---@field ${m.name}${optional(m) ? '?' : ''} ${t}${summary ? ' ' + summary : ''}`);
  }
  for (const n of nested) metaClass(lines, n.cls, n.members, null, optional);
}

function typesFile() {
  const body = [];
  const requestOptional = (m) => !annotatedRequired(m);
  const replyOptional = () => REPLY_FIELDS_OPTIONAL;
  for (const a of actions) {
    metaClass(body, `ecs.${a.name}Request`, a.params, `Parameters of ${a.name}.`, requestOptional);
    metaClass(body, `ecs.${a.name}Reply`, replyMembers(a._reply),
      `Reply of ${a.name}: the decoded JSON body that client:${a.name} and client:call return.`, replyOptional);
  }
  const classes = body.filter((l) => l.startsWith('---@class ')).length;
  body.push('');
  body.push('---@class ecs.Client');
  for (const a of actions) {
    const p = a.params.some(annotatedRequired) ? 'params' : 'params?';
    body.push(`---@field ${a.name} fun(self: ecs.Client, ${p}: ecs.${a.name}Request, opts?: ecs.CallOptions): ecs.${a.name}Reply?, ecs.Error?`);
  }
  const head = ['---@meta', regen,
    '-- LuaLS annotations of the ECS API, for editors only: types/ is a LuaLS library folder (installed to',
    '-- share/lua-ecs/types), not on the runtime require path. Do not edit.',
    `-- ${classes} classes: ecs.<Action>Request (params; ecs.<Action>Params before), ecs.<Action>Reply`,
    '-- (the decoded JSON body the client returns), <class>.<Field> (an object field), <class>.<Field>Item',
    '-- (a list element), <class>.<Field>Value (a map value); and the ecs.Client helper methods.',
    '-- ecs.Client, ecs.CallOptions and ecs.Error are declared in the Lua modules (lua/ecs/*.lua).',
    '-- Reply fields are declared present; the service may leave some out (e.g. NextToken on the last page).'];
  return head.concat(body).join('\n') + '\n';
}

// ---- write ------------------------------------------------------------------------------------
const emulator = emulatorDefs.paramdefsFile({ clientActions, models, regen,
  shapes: new Map(actions.map((a) => [a.name, a])) });
if (emulator.actions !== actions.length) throw new Error('emulator parameter definitions: action count differs');
const outputs = [[OUT_MODEL, modelFile()], [OUT_TYPES, typesFile()], [OUT_EMULATOR, emulator.text]];
const check = process.argv.includes('--check');
let stale = false;
for (const [file, text] of outputs) {
  const rel = path.relative(ROOT, file);
  if (check) {
    const cur = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (cur !== text) { stale = true; console.error(`stale: ${rel}`); }
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    console.log(`wrote ${rel} (${text.length} bytes)`);
  }
}
for (const [old, now] of MOVED) {
  if (!fs.existsSync(old)) continue;
  const rel = path.relative(ROOT, old), to = path.relative(ROOT, now);
  if (check) { stale = true; console.error(`stale: ${rel} (generated into ${to} now)`); }
  else { fs.unlinkSync(old); console.log(`removed ${rel} (generated into ${to} now)`); }
}
for (const w of warnings) console.error('warning: ' + w);
console.log(`${info.name}@${info.version}: ${counts.actions} actions, ${counts.params} params ` +
  `(${counts.required} required); styles: ${fmt(counts.styles)}; types: ${fmt(counts.types)}; paging: ${fmt(counts.paging)}`);
if (stale) process.exit(1);
