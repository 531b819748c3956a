// Throughput of the official Node.js SDK @alicloud/pop-core (v1 RPCClient), driven like
// bench/throughput.lua: CONC concurrent async loops, CALLS DescribeRegions calls in all.
// The client is used as a user would: new RPCClient({...}) and client.request(...). pop-core
// sends every request through its own keep-alive http.Agent (keepAlive: true, no socket
// limit), so connections are reused; nothing is tuned here.
//   node bench/popcore.js ENDPOINT [CALLS=20000] [CONC=64] [WARMUP=CONC*4]
'use strict';
const RPCClient = require('@alicloud/pop-core').RPCClient;

const endpoint = process.argv[2];
const calls = Number(process.argv[3] || 20000);
const conc = Number(process.argv[4] || 64);
const warmup = Number(process.argv[5] || conc * 4);

const client = new RPCClient({
  accessKeyId: 'testid', accessKeySecret: 'testsecret', endpoint, apiVersion: '2014-05-26',
});

async function load(n) {
  let ok = 0, failed = 0, firstErr = null;
  const loops = [];
  for (let w = 0; w < conc; w++) {
    const share = Math.floor(n / conc) + (w < n % conc ? 1 : 0);
    loops.push((async () => {
      for (let i = 0; i < share; i++) {
        try {
          const res = await client.request('DescribeRegions', {}, { timeout: 10000 });
          if (res && res.Regions) ok++; else { failed++; firstErr = firstErr || 'no Regions'; }
        } catch (e) {
          failed++;
          firstErr = firstErr || `${e.code || ''} ${e.message}`;
        }
      }
    })());
  }
  await Promise.all(loops);
  return { ok, failed, firstErr };
}

(async () => {
  await load(warmup);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = await load(calls);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const fmt = (x) => Number(x.toPrecision(6));
  console.log(`RESULT pop-core-v1 calls=${calls} cpu_seconds=${fmt(cpu)} cpu_us_per_call=${fmt(cpu / calls * 1e6)} ` +
    `failures=${r.failed} ok=${r.ok} rate=${fmt(calls / wall)} seconds=${fmt(wall)}`);
  if (r.firstErr) console.error('first failure: ' + r.firstErr);
})().catch((e) => { console.error(e); process.exit(1); });
