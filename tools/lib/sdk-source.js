'use strict';
// Readers for what @alicloud/ecs20140526 ships:
//   dist/models/model.js  the Darabonba model classes (names() / types()), loaded with require
//   src/models/*.ts       the same classes with their doc comments (@remarks, @example,
//                         "This parameter is required.")
//   src/client.ts         one `xxxWithOptions` method per action: action name, which request
//                         fields go to the query, which are JSON-encoded (*Shrink fields)
// Everything here fails loudly when the package stops looking the way we expect.

const fs = require('fs');
const path = require('path');

const PKG = '@alicloud/ecs20140526';

function packageInfo() {
  const pkgJson = require.resolve(PKG + '/package.json');
  const dir = path.dirname(pkgJson);
  const meta = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
  return { name: meta.name, version: meta.version, dir };
}

function loadModels() {
  return require(PKG + '/dist/models/model');
}

// Doc comments, keyed "ClassName.fieldName" -> { remarks, example, required }.
function parseDocComments(dir) {
  const docs = new Map();
  const modelsDir = path.join(dir, 'src', 'models');
  for (const file of fs.readdirSync(modelsDir)) {
    if (!file.endsWith('.ts')) continue;
    const lines = fs.readFileSync(path.join(modelsDir, file), 'utf8').split('\n');
    let cls = null;
    let comment = null;   // lines of the last /** */ block, or null
    let inComment = false;
    for (const line of lines) {
      const c = /^export class (\w+) extends/.exec(line);
      if (c) { cls = c[1]; comment = null; continue; }
      if (/^\s*\/\*\*/.test(line)) { inComment = true; comment = []; }
      if (inComment) {
        comment.push(line.replace(/^\s*\/?\*+\/?\s?/, ''));
        if (/\*\/\s*$/.test(line)) inComment = false;
        continue;
      }
      const f = /^  (\w+)\?: /.exec(line);
      if (f && cls) {
        docs.set(cls + '.' + f[1], summarize(comment || []));
        comment = null;
        continue;
      }
      if (line.trim() !== '') comment = null;
    }
  }
  return docs;
}

function summarize(lines) {
  const text = lines.join('\n');
  const sections = { remarks: [], example: [] };
  let cur = null;
  for (const l of lines) {
    const tag = /^@(\w+)/.exec(l);
    if (tag) { cur = sections[tag[1]] || null; continue; }
    if (cur) cur.push(l);
  }
  return {
    remarks: sections.remarks.join('\n').trim(),
    example: sections.example.join('\n').trim(),
    required: /This parameter is required\./.test(text),
  };
}

// One entry per action, from src/client.ts.
function parseClient(dir) {
  const src = fs.readFileSync(path.join(dir, 'src', 'client.ts'), 'utf8');
  const re = /^  async (\w+)WithOptions\((request|tmpReq): \$_model\.(\w+), runtime: \$dara\.RuntimeOptions\): Promise<\$_model\.(\w+)> \{$/gm;
  const heads = [];
  let m;
  while ((m = re.exec(src))) heads.push({ at: m.index, method: m[1], reqClass: m[3], respClass: m[4] });
  const actions = [];
  heads.forEach((h, i) => {
    const end = i + 1 < heads.length ? heads[i + 1].at : src.length;
    const body = src.slice(h.at, end);
    const params = /new \$OpenApiUtil\.Params\(\{([\s\S]*?)\}\);/.exec(body);
    if (!params) throw new Error('no Params block in ' + h.method);
    const prop = (k) => { const r = new RegExp(k + ': "([^"]*)"').exec(params[1]); return r && r[1]; };
    const action = prop('action');
    if (prop('version') !== '2014-05-26') throw new Error(action + ': unexpected version ' + prop('version'));
    if (prop('style') !== 'RPC') throw new Error(action + ': unexpected style ' + prop('style'));
    if (/\bbody\[/.test(body)) throw new Error(action + ': has body parameters; generator does not handle them');
    const shrink = new Map();   // shrink field -> { field, wire, style }
    for (const s of body.matchAll(/request\.(\w+)Shrink = OpenApiUtil\.arrayToStringWithSpecifiedStyle\(tmpReq\.(\w+), "([^"]+)", "(\w+)"\);/g)) {
      if (s[1] !== s[2]) throw new Error(action + ': odd shrink ' + s[0]);
      shrink.set(s[1] + 'Shrink', { field: s[2], wire: s[3], style: s[4] });
    }
    const query = [];
    const seen = new Map(); // wire -> request field; the SDK repeats some assignments verbatim
    for (const q of body.matchAll(/query\["([^"]+)"\] = ([^;]+);/g)) {
      const r = /^request\.(\w+)$/.exec(q[2]);
      if (!r) throw new Error(action + ': unexpected query expression ' + q[0]);
      if (seen.has(q[1])) {
        if (seen.get(q[1]) !== r[1]) throw new Error(action + ': wire name ' + q[1] + ' set from two fields');
        continue;
      }
      seen.set(q[1], r[1]);
      const sh = shrink.get(r[1]);
      if (sh) {
        if (sh.wire !== q[1]) throw new Error(action + ': shrink wire mismatch ' + q[0]);
        query.push({ wire: q[1], field: sh.field, encoded: sh.style });
      } else {
        query.push({ wire: q[1], field: r[1], encoded: null });
      }
    }
    actions.push({ action, method: h.method, reqClass: h.reqClass, respClass: h.respClass,
                   bodyType: prop('bodyType'), query });
  });
  return actions;
}

module.exports = { PKG, packageInfo, loadModels, parseDocComments, parseClient };
