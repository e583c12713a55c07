// The unmodified happn-3 client on every node of a cluster whose peer links are being reset
// (the Rust test runs `ss -K` on the internal ports meanwhile): 1,500 sequential writes
// through node 0; every subscriber on every node must see every write exactly once, in
// order. Prints the counts.
// Usage: HAPPN_PORTS=55001,55002,55003 HAPPN_WRITES=1500 node tests/compat/cluster-faults.js
'use strict';
const Happn = require('happn-3');

(async () => {
  const ports = process.env.HAPPN_PORTS.split(',').map((p) => parseInt(p, 10));
  const writes = parseInt(process.env.HAPPN_WRITES || '1500', 10);
  const clients = [];
  for (const port of ports) clients.push(await Happn.client.create({ host: '127.0.0.1', port }));
  const tallies = clients.map(() => ({ received: 0, seen: new Set(), duplicated: 0, outOfOrder: 0, last: -1 }));
  await Promise.all(
    clients.map((client, i) =>
      client.on('/faults/*', (data) => {
        const t = tallies[i];
        t.received++;
        if (t.seen.has(data.n)) t.duplicated++;
        t.seen.add(data.n);
        if (data.n <= t.last) t.outOfOrder++;
        t.last = data.n;
      })
    )
  );
  console.log('subscribed');
  let acknowledged = 0;
  for (let n = 0; n < writes; n++) {
    await clients[0].set(`/faults/${n % 50}`, { n });
    acknowledged++;
  }
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline && !tallies.every((t) => t.seen.size === writes)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 500));
  let ok = acknowledged === writes;
  tallies.forEach((t, i) => {
    const lost = writes - t.seen.size;
    console.log(`node ${i}: expected ${writes}, received ${t.received}, lost ${lost}, duplicated ${t.duplicated}, out of order ${t.outOfOrder}`);
    if (lost) {
      const missing = [];
      for (let n = 0; n < writes && missing.length < 20; n++) if (!t.seen.has(n)) missing.push(n);
      console.log(`  missing on node ${i}: ${missing.join(', ')}`);
    }
    if (lost || t.duplicated || t.outOfOrder) ok = false;
  });
  console.log(`writes acknowledged ${acknowledged}`);
  for (const client of clients) await client.disconnect();
  process.exit(ok ? 0 : 1);
})().catch((e) => {
  console.error('FAIL', e && e.stack ? e.stack : e);
  process.exit(1);
});
