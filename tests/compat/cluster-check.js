// The unmodified happn-3 client against a running cluster: one client per node, each
// subscribed to /cluster/*; every node's client writes (set, merge, publish, remove)
// concurrently; every client must see every write made through the other nodes exactly
// once, in each origin's order.
// Usage: HAPPN_PORTS=55001,55002,55003 HAPPN_PASSWORD=… node tests/compat/cluster-check.js
'use strict';
const assert = require('assert');
const Happn = require('happn-3');

const WRITES = 20;

(async () => {
  const ports = process.env.HAPPN_PORTS.split(',').map((p) => parseInt(p, 10));
  const clients = [];
  for (const port of ports) {
    clients.push(
      await Happn.client.create({
        host: '127.0.0.1',
        port,
        username: '_ADMIN',
        password: process.env.HAPPN_PASSWORD,
      })
    );
  }
  // seen[i] = events client i received, as "origin:seq:action".
  const seen = clients.map(() => []);
  await Promise.all(
    clients.map((client, i) =>
      client.on('/cluster/**', (data, meta) => {
        const action = meta.action.split('@')[0].slice(1);
        seen[i].push(`${data.origin !== undefined ? data.origin : meta.path.split('/')[2]}:${data.seq !== undefined ? data.seq : 'x'}:${action}:${meta.path}`);
      })
    )
  );
  // Every node writes concurrently.
  await Promise.all(
    clients.map(async (client, origin) => {
      for (let seq = 0; seq < WRITES; seq++) {
        const path = `/cluster/${origin}/${seq}`;
        if (seq % 4 === 0) await client.set(path, { origin, seq });
        else if (seq % 4 === 1) await client.set(path, { origin, seq }, { merge: true });
        else if (seq % 4 === 2) await client.set(path, { origin, seq }, { noStore: true });
        else {
          await client.set(path, { origin, seq });
          await client.remove(path);
        }
      }
    })
  );
  const expected = WRITES + WRITES / 4; // the removes
  const deadline = Date.now() + 15000;
  const complete = () => seen.every((events) => events.length >= expected * clients.length);
  while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  let checks = 0;
  seen.forEach((events, i) => {
    for (let origin = 0; origin < clients.length; origin++) {
      const fromOrigin = events.filter((e) => e.split(':')[3].startsWith(`/cluster/${origin}/`));
      assert.strictEqual(fromOrigin.length, expected, `client ${i} from node ${origin}: ${fromOrigin.length} events, want ${expected}`);
      const unique = new Set(fromOrigin);
      assert.strictEqual(unique.size, fromOrigin.length, `client ${i}: duplicates from node ${origin}`);
      // Per-origin order: sequence numbers never go back.
      let last = -1;
      for (const e of fromOrigin) {
        const seq = parseInt(e.split(':')[3].split('/')[3], 10);
        assert.ok(seq >= last, `client ${i}: node ${origin} out of order (${seq} after ${last})`);
        last = seq;
      }
      checks++;
    }
  });
  for (const client of clients) await client.disconnect();
  console.log(`cluster ok: ${checks} origin/subscriber pairs, ${expected} events each, no loss, no duplicate, in order`);
  process.exit(0);
})().catch((e) => {
  console.error('FAIL', e && e.stack ? e.stack : e);
  process.exit(1);
});
