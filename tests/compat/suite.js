// Compatibility suite: drives the unmodified happn-3@13.12.1 npm client against a node.
// Usage: HAPPN_PORT=55000 node tests/compat/suite.js   (the Rust test tests/compat.rs runs it)
'use strict';

const assert = require('assert');

// Values decoded by the client may carry foreign prototypes: compare their JSON.
const same = (actual, expected, message) =>
  assert.strictEqual(JSON.stringify(actual), JSON.stringify(expected), message);
const Happn = require('happn-3');

const { test, track, delay, port, run } = require('./runner');

async function connect() {
  return track(await Happn.client.create({ host: '127.0.0.1', port }));
}

/** Resolves with the next `count` events delivered to a fresh listener. */
function collector() {
  const events = [];
  const handler = (data, meta) => events.push({ data, meta });
  handler.events = events;
  handler.waitFor = async (count, ms = 3000) => {
    const until = Date.now() + ms;
    while (events.length < count && Date.now() < until) await delay(5);
    assert.ok(events.length >= count, `expected ${count} events, got ${events.length}`);
    return events;
  };
  return handler;
}

test('set and get, created kept, modified advances', async () => {
  const c = await connect();
  const first = await c.set('/compat/basic', { a: 1, b: 'two' });
  assert.strictEqual(first.a, 1);
  assert.strictEqual(first._meta.path, '/compat/basic');
  await delay(5);
  const second = await c.set('/compat/basic', { c: 3 });
  assert.strictEqual(second._meta.created, first._meta.created);
  assert.ok(second._meta.modified > first._meta.modified);
  const got = await c.get('/compat/basic');
  same({ c: got.c, a: got.a }, { c: 3, a: undefined });
  assert.strictEqual(await c.get('/compat/missing'), null);
});

test('scalars, null and arrays are wrapped as {value}', async () => {
  const c = await connect();
  await c.set('/compat/scalar', 42);
  assert.strictEqual((await c.get('/compat/scalar')).value, 42);
  // (a trailing null argument is stripped by the client's promisifier, so pass options)
  await c.set('/compat/null', null, {});
  assert.strictEqual((await c.get('/compat/null')).value, null);
  await c.set('/compat/array', [1, 'x']);
  same((await c.get('/compat/array')).value, [1, 'x']);
});

test('merge is shallow', async () => {
  const c = await connect();
  await c.set('/compat/merge', { a: 1, n: { x: 1 } });
  const merged = await c.set('/compat/merge', { b: 2, n: { y: 2 } }, { merge: true });
  assert.strictEqual(merged.a, 1);
  assert.strictEqual(merged.b, 2);
  same(merged.n, { y: 2 });
});

test('wildcard get, criteria, sort, limit, skip, fields, getPaths, count', async () => {
  const c = await connect();
  const names = ['carol', 'alice', 'bob', 'dave'];
  for (let i = 0; i < names.length; i++) {
    await c.set(`/compat/people/${i}`, { name: names[i], age: 20 + i * 10 });
  }
  await c.set('/compat/people/deep/x', { name: 'deep', age: 99 });
  const all = await c.get('/compat/people/*');
  assert.strictEqual(all.length, 5);
  same(await c.get('/compat/nothing/*'), []);
  const older = await c.get('/compat/people/*', {
    criteria: { age: { $gte: 40 } },
    options: { sort: { age: -1 } },
  });
  same(older.map((p) => p.name), ['deep', 'dave', 'bob']);
  const page = await c.get('/compat/people/*', {
    options: { sort: { name: 1 }, skip: 1, limit: 2, fields: { name: 1 } },
  });
  same(page.map((p) => p.name), ['bob', 'carol']);
  assert.strictEqual(page[0].age, undefined);
  assert.strictEqual(page[0]._meta.path, '/compat/people/2');
  const regex = await c.get('/compat/people/*', { criteria: { name: { $regex: ['^A', 'i'] } } });
  same(regex.map((p) => p.name), ['alice']);
  const byMeta = await c.get('/compat/people/*', {
    criteria: { $or: [{ '_meta.path': '/compat/people/0' }, { name: { $in: ['bob'] } }] },
    options: { sort: { '_meta.path': 1 } },
  });
  same(byMeta.map((p) => p.name), ['carol', 'bob']);
  const between = await c.getCreatedBetween('/compat/people/*', 0, Date.now() + 1000);
  assert.strictEqual(between.length, 5);
  const paths = await c.getPaths('/compat/people/*');
  assert.strictEqual(paths.length, 5);
  assert.ok(paths.every((p) => p._meta.path.startsWith('/compat/people/')));
  const count = await c.count('/compat/people/*');
  assert.strictEqual(count.value, 5);
  const counted = await c.count('/compat/people/*', { criteria: { age: { $lt: 35 } } });
  assert.strictEqual(counted.value, 2);
});

test('increment, default gauge and negative amounts', async () => {
  const c = await connect();
  const first = await c.increment('/compat/gauge', 'hits', 3);
  assert.strictEqual(first.value, 3);
  const second = await c.increment('/compat/gauge', 'hits', -5);
  assert.strictEqual(second.value, -2);
  const dflt = await c.increment('/compat/gauge');
  assert.strictEqual(dflt.value, 1);
  assert.strictEqual(dflt.gauge, 'counter');
  await Promise.all(Array.from({ length: 50 }, () => c.increment('/compat/gauge', 'burst', 1)));
  assert.strictEqual((await c.get('/compat/gauge')).burst.value, 50);
});

test('remove exact and wildcard', async () => {
  const c = await connect();
  for (let i = 0; i < 3; i++) await c.set(`/compat/rm/${i}`, { i });
  assert.strictEqual((await c.remove('/compat/rm/0')).removed, 1);
  assert.strictEqual((await c.remove('/compat/rm/*')).removed, 2);
  assert.strictEqual((await c.count('/compat/rm/*')).value, 0);
});

test("happn-3's extra criteria operators: $containsAny, $containsAll, $containsNone", async () => {
  const c = await connect();
  await c.set('/compat/ops/1', { tags: ['red', 'blue'], name: 'alpha' });
  await c.set('/compat/ops/2', { tags: ['green'], name: 'beta' });
  const paths = async (criteria) =>
    (await c.get('/compat/ops/*', { criteria })).map((r) => r._meta.path).sort();
  same(await paths({ tags: { $containsAny: ['blue', 'green'] } }), ['/compat/ops/1', '/compat/ops/2']);
  same(await paths({ tags: { $containsAll: ['red', 'blue'] } }), ['/compat/ops/1']);
  same(await paths({ tags: { $containsNone: ['red'] } }), ['/compat/ops/2']);
  same(await paths({ name: { $containsString: 'et' } }), ['/compat/ops/2']);
  assert.strictEqual((await c.count('/compat/ops/*', { criteria: { tags: { $containsAny: 'red' } } })).value, 1);
});

test('aggregate and collation: run on mongo, refused by name elsewhere', async () => {
  const c = await connect();
  await c.set('/compat/agg/1', { kind: 'a', n: 1, name: 'Zed' });
  await c.set('/compat/agg/2', { kind: 'a', n: 2, name: 'zed' });
  await c.set('/compat/agg/3', { kind: 'b', n: 5, name: 'amy' });
  const aggregate = [{ $group: { _id: '$data.kind', total: { $sum: '$data.n' } } }, { $sort: { _id: 1 } }];
  const collation = { locale: 'en', strength: 2 };
  if (process.env.HAPPN_PROVIDER === 'happn-db-provider-mongo') {
    const grouped = await c.get('/compat/agg/*', { options: { aggregate } });
    same(grouped.value, [{ _id: 'a', total: 3 }, { _id: 'b', total: 5 }]);
    const found = await c.get('/compat/agg/*', { criteria: { name: 'ZED' }, options: { collation } });
    same(found.map((r) => r._meta.path).sort(), ['/compat/agg/1', '/compat/agg/2']);
  } else {
    for (const [feature, options] of [['aggregate', { aggregate }], ['collation', { collation }]]) {
      await assert.rejects(c.get('/compat/agg/*', { options }), (e) => {
        assert.strictEqual(e.message, `${feature} feature not available for provider on path: /compat/agg/*`);
        return true;
      });
    }
  }
  await assert.rejects(
    c.get('/compat/agg/*', { options: { aggregate: [{ $out: 'stolen' }] } }),
    /not allowed/
  );
});

test("transactional: the writer's own events arrive before its set resolves", async () => {
  const c = await connect();
  const exact = collector();
  const wide = collector();
  await c.on('/compat/own/x', exact);
  await c.on('/compat/own/**', wide);
  for (let i = 0; i < 50; i++) {
    await c.set('/compat/own/x', { i });
    assert.strictEqual(exact.events.length, i + 1, `exact handler count right after set ${i}`);
    assert.strictEqual(wide.events.length, i + 1, `** handler count right after set ${i}`);
  }
});

test('publish replies are lean, as happn-3 sends them', async () => {
  const c = await connect();
  const reply = await c.publish('/compat/lean', { a: 1 });
  same(Object.keys(reply._meta).sort(), ['eventId', 'path', 'published', 'status', 'type']);
  assert.strictEqual(reply._meta.path, '/compat/lean');
  assert.strictEqual(reply._meta.published, true);
});

test("happn-3's error names, codes and texts for data-service refusals", async () => {
  const c = await connect();
  await assert.rejects(c.get('/compat/errs/*', { criteria: { a: { $regex: 5 } } }), (e) => {
    assert.strictEqual(e.toString(), 'SystemError: $regex parameter value must be an Array or a string');
    assert.strictEqual(e.code, 500);
    return true;
  });
  if (process.env.HAPPN_PROVIDER !== 'happn-db-provider-mongo') {
    await assert.rejects(c.get('/compat/errs/*', { options: { aggregate: [{ $count: 'n' }] } }), (e) => {
      assert.strictEqual(e.name, 'SystemError');
      assert.strictEqual(e.code, 500);
      return true;
    });
  }
  assert.strictEqual((await c.set('/compat/errs/ok', { ok: 1 })).ok, 1, 'the session keeps working');
});

test('remove with criteria removes only the matching records', async () => {
  const c = await connect();
  for (let i = 0; i < 3; i++) await c.set(`/compat/rmc/${i}`, { i });
  const result = await c.remove('/compat/rmc/*', { criteria: { i: { $gte: 2 } } });
  assert.strictEqual(result.removed, 1);
  const left = await c.get('/compat/rmc/*');
  same(left.map((r) => r.i).sort(), [0, 1]);
});

test('on: masks, event types, meta, off', async () => {
  const c = await connect();
  const w = await connect();
  const star = collector();
  const sets = collector();
  const removes = collector();
  const starHandle = await c.on('/compat/ev/*', star);
  await c.on('/compat/ev/x', { event_type: 'set' }, sets);
  await c.on('/compat/ev/x', { event_type: 'remove' }, removes);
  await w.set('/compat/ev/x', { v: 1 }, { meta: { custom: 'yes' } });
  await w.set('/compat/ev/x/deeper', { v: 2 });
  await w.remove('/compat/ev/x');
  await star.waitFor(2);
  const [set, rm] = star.events;
  same(set.data, { v: 1 });
  assert.strictEqual(set.meta.channel, '/ALL@/compat/ev/*');
  assert.strictEqual(set.meta.action, '/SET@/compat/ev/x');
  assert.strictEqual(set.meta.path, '/compat/ev/x');
  assert.strictEqual(set.meta.type, 'data');
  assert.strictEqual(set.meta.sessionId, w.session.id);
  assert.strictEqual(set.meta.custom, 'yes');
  assert.ok(set.meta.publicationId.startsWith(w.session.id));
  assert.ok(set.meta.created && set.meta.modified);
  same(rm.data, { removed: 1 });
  assert.strictEqual(rm.meta.action, '/REMOVE@/compat/ev/x');
  await sets.waitFor(1);
  await removes.waitFor(1);
  assert.strictEqual(sets.events.length, 1);
  assert.strictEqual(removes.events.length, 1);
  await c.off(starHandle);
  await w.set('/compat/ev/y', {});
  await delay(100);
  assert.strictEqual(star.events.length, 2, 'no events after off');
});

test('onAll, once, count, offPath, offAll', async () => {
  const c = await connect();
  const w = await connect();
  const all = collector();
  await c.onAll(all);
  const once = collector();
  await c.once('/compat/once', once);
  const twice = collector();
  await c.on('/compat/twice', { count: 2 }, twice);
  for (let i = 0; i < 3; i++) {
    await w.set('/compat/once', { i });
    await w.set('/compat/twice', { i });
  }
  await all.waitFor(6);
  await delay(100);
  assert.strictEqual(once.events.length, 1);
  assert.strictEqual(twice.events.length, 2);
  const pathed = collector();
  await c.on('/compat/op/a', pathed);
  await c.on('/compat/op/b', pathed);
  await c.offPath('/compat/op/*');
  await w.set('/compat/op/a', {});
  await all.waitFor(7);
  await c.offAll();
  await w.set('/compat/after-off-all', {});
  await delay(100);
  assert.strictEqual(pathed.events.length, 0);
  assert.strictEqual(all.events.length, 7, 'onAll saw /compat/op/a, then nothing after offAll');
});

test('two handlers on one path: removing both unsubscribes on the server', async () => {
  const c = await connect();
  const w = await connect();
  const first = collector();
  const second = collector();
  const firstId = await c.on('/compat/two-handlers', first);
  const secondId = await c.on('/compat/two-handlers', second);
  await w.set('/compat/two-handlers', { n: 1 });
  await first.waitFor(1);
  await second.waitFor(1);
  // The second removal sends `off` without a referenceId (the client holds none for it).
  await c.off(firstId);
  await c.off(secondId);
  await w.set('/compat/two-handlers', { n: 2 });
  const after = collector();
  await c.on('/compat/two-handlers-after', after);
  await w.set('/compat/two-handlers-after', {});
  await after.waitFor(1);
  assert.strictEqual(first.events.length + second.events.length, 2, 'nothing after off');
  // A once() that expires also unsubscribes without a referenceId, and the session stays up.
  const once = collector();
  await c.once('/compat/once-expiry', once);
  await w.set('/compat/once-expiry', {});
  await once.waitFor(1);
  await delay(50);
  assert.strictEqual((await c.set('/compat/still-active', { ok: 1 })).ok, 1);
});

test('variable depth /** subscriptions', async () => {
  const c = await connect();
  const deep = collector();
  await c.on('/compat/deep/**', { depth: 2 }, deep);
  await c.set('/compat/deep/1', {});
  await c.set('/compat/deep/1/2', {});
  await c.set('/compat/deep/1/2/3', {});
  await deep.waitFor(2);
  await delay(100);
  assert.strictEqual(deep.events.length, 2);
  assert.strictEqual(deep.events[0].meta.depth, 2);
});

test('initialCallback and initialEmit', async () => {
  const c = await connect();
  await c.set('/compat/init/1', { n: 1 });
  await delay(3);
  await c.set('/compat/init/2', { n: 2 });
  const items = await new Promise((resolve, reject) => {
    c.on('/compat/init/*', { initialCallback: true }, () => {}, (e, handle, initial) =>
      e ? reject(e) : resolve(initial)
    );
  });
  same(items.map((i) => i.n), [1, 2]);
  assert.strictEqual(items[0]._meta.path, '/compat/init/1');
  const emitted = [];
  await c.on('/compat/init/*', { initialEmit: true }, (item) => emitted.push(item));
  await delay(50);
  same(emitted.map((i) => i.n), [1, 2]);
});

test('merge subscribers receive the posted fields', async () => {
  const c = await connect();
  const other = await connect();
  await c.set('/compat/ms', { a: 1 });
  const merged = collector();
  const plain = collector();
  await c.on('/compat/ms', { merge: true }, merged);
  await other.on('/compat/ms', plain);
  await c.set('/compat/ms', { b: 2 }, { merge: true });
  await merged.waitFor(1);
  await plain.waitFor(1);
  same(merged.events[0].data, { b: 2 });
  same(plain.events[0].data, { a: 1, b: 2 });
});

test('publish, noPublish and targetClients', async () => {
  const a = await connect();
  const b = await connect();
  const aEvents = collector();
  const bEvents = collector();
  await a.on('/compat/pub/*', aEvents);
  await b.on('/compat/pub/*', bEvents);
  const reply = await a.publish('/compat/pub/flash', { hello: 1 });
  assert.strictEqual(reply._meta.path, '/compat/pub/flash');
  assert.strictEqual(await a.get('/compat/pub/flash'), null);
  await a.set('/compat/pub/quiet', { q: 1 }, { noPublish: true });
  await a.set('/compat/pub/targeted', { t: 1 }, { targetClients: [b.session.id] });
  await bEvents.waitFor(2);
  await delay(100);
  same(aEvents.events.map((e) => e.meta.path), ['/compat/pub/flash']);
  same(bEvents.events.map((e) => e.meta.path), ['/compat/pub/flash', '/compat/pub/targeted']);
});

test('consistency: transactional ordering, queued, deferred and acknowledged', async () => {
  const w = await connect();
  const s = await connect();
  const order = [];
  await w.on('/compat/cons/*', () => order.push('event'));
  const subEvents = collector();
  await s.on('/compat/cons/*', subEvents);
  await w.set('/compat/cons/tx', {});
  order.push('reply');
  same(order, ['event', 'reply']);
  await w.set('/compat/cons/q', {}, { consistency: 0 });
  const deferred = await new Promise((resolve, reject) => {
    w.set('/compat/cons/d', {}, {
      consistency: 1,
      onPublished: (e, results) => (e ? reject(e) : resolve(results)),
    }).catch(reject);
  });
  assert.strictEqual(deferred.successful, 2);
  const acknowledged = await new Promise((resolve, reject) => {
    w.set('/compat/cons/a', {}, {
      consistency: 3,
      onPublished: (e, results) => (e ? reject(e) : resolve(results)),
    }).catch(reject);
  });
  assert.strictEqual(acknowledged.acknowledged, 2);
  await subEvents.waitFor(4);
  assert.strictEqual(subEvents.events[3].meta.consistency, 3);
});

test('events reach every subscriber in publish order under concurrency', async () => {
  const subs = [await connect(), await connect()];
  const seen = [collector(), collector()];
  await subs[0].on('/compat/order/*', seen[0]);
  await subs[1].on('/compat/order/*', seen[1]);
  const writers = await Promise.all([connect(), connect(), connect()]);
  await Promise.all(
    writers.map(async (w, wi) => {
      for (let i = 0; i < 40; i++) await w.set(`/compat/order/${wi}`, { wi, i });
    })
  );
  for (const s of seen) {
    await s.waitFor(120);
    for (let wi = 0; wi < 3; wi++) {
      const sequence = s.events.filter((e) => e.data.wi === wi).map((e) => e.data.i);
      same(sequence, Array.from({ length: 40 }, (_, i) => i));
    }
  }
  const key = (s) => s.events.map((e) => `${e.data.wi}:${e.data.i}`).join(',');
  assert.strictEqual(key(seen[0]), key(seen[1]));
});

test('bad input is surfaced as errors and the session keeps working', async () => {
  const c = await connect();
  await assert.rejects(c.set('/compat/*', {}), /cannot contain the \* wildcard/);
  await assert.rejects(c.set('/compat/bad#char', {}), /Bad path/);
  await assert.rejects(c.get('/compat/people/*', { criteria: { age: { $near: 1 } } }), /unknown criteria operator/);
  await assert.rejects(c.get('/compat/people/*', { options: { sort: { age: 'sideways' } } }), /sort direction/);
  await assert.rejects(c.on('/compat/partial*', () => {}), /partial wildcard/);
  await assert.rejects(c.set('/compat/x', {}, { consistency: 7 }), /consistency/);
  const ok = await c.set('/compat/still-ok', { fine: true });
  assert.strictEqual(ok.fine, true);
});

test('a 1 MB payload round-trips', async () => {
  const c = await connect();
  const blob = 'x'.repeat(1024 * 1024);
  const events = collector();
  await c.on('/compat/big', events);
  await c.set('/compat/big', { blob });
  assert.strictEqual((await c.get('/compat/big')).blob.length, blob.length);
  await events.waitFor(1);
  assert.strictEqual(events.events[0].data.blob.length, blob.length);
});

test('disconnect and a fresh client', async () => {
  const c = await connect();
  await c.set('/compat/disc', { a: 1 });
  await c.disconnect();
  const d = await connect();
  assert.strictEqual((await d.get('/compat/disc')).a, 1);
});

run();
