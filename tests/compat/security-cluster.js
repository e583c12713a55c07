// happn-3's security model across a 3-node cluster, through the unmodified happn-3 client.
// HAPPN_PORTS lists the three client ports. Changes on the server side are asked of the Rust
// test that runs this script: `ask(what)` prints `ASK <what>` and waits for its `DONE` line.
'use strict';

const assert = require('assert');
const readline = require('readline');
const Happn = require('happn-3');

const { test, track, delay, run } = require('./runner');

const ports = (process.env.HAPPN_PORTS || '').split(',').map((p) => parseInt(p, 10));
const answers = readline.createInterface({ input: process.stdin });
const waiting = [];
answers.on('line', (line) => waiting.length && waiting.shift()(line));

function ask(what) {
  return new Promise((resolve) => {
    waiting.push(resolve);
    console.log(`ASK ${what}`);
  });
}

async function login(node, username, password, extra = {}) {
  return track(
    await Happn.client.create({ host: '127.0.0.1', port: ports[node], username, password, ...extra })
  );
}

async function eventually(what, check, ms = 10000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await delay(50);
  }
  assert.fail(`${what}: still not true after ${ms} ms (last: ${last})`);
}

test("a user permission granted through node 1 takes effect for a live session on node 3", async () => {
  const root = await login(0, '_ADMIN', 'admin-pass');
  await root.set('/granted/doc', { g: 1 });
  const alice = await login(2, 'alice', 'alice-pass');
  const changes = [];
  alice.onSystemMessage((key, data) => key === 'security-data-changed' && changes.push(data));
  await assert.rejects(alice.get('/granted/doc'), /unauthorized/);
  assert.strictEqual(await ask('grant alice /granted/* get'), 'DONE');
  await eventually('alice reads /granted on node 3', async () => (await alice.get('/granted/doc')).g === 1);
  assert.ok(changes.some((c) => c.changedData.username === 'alice'), JSON.stringify(changes));
});

test("a profile's ttl holds for a token used on another node", async () => {
  const robot = await login(0, 'robot', 'robot-pass', { info: { kind: 'robot' } });
  assert.strictEqual(robot.session.policy['1'].ttl, 1500);
  const elsewhere = track(
    await Happn.client.create({ host: '127.0.0.1', port: ports[1], token: robot.session.token })
  );
  let ended = null;
  elsewhere.onEvent('session-ended', (data) => (ended = data && data.reason));
  await eventually('the token session on node 2 expired', () => ended === 'token-expired', 5000);
  await assert.rejects(
    Happn.client.create({ host: '127.0.0.1', port: ports[2], token: robot.session.token }),
    /expired session token/
  );
});

test('tokens from any node work on every node, and revoking one ends its sessions everywhere', async () => {
  const alice = await login(0, 'alice', 'alice-pass');
  const reasons = [];
  for (const port of [ports[1], ports[2]]) {
    const child = track(await Happn.client.create({ host: '127.0.0.1', port, token: alice.session.token }));
    child.onEvent('session-ended', (data) => reasons.push(data && data.reason));
  }
  await alice.disconnect({ revokeToken: true });
  await eventually('both children ended', () => reasons.length === 2);
  assert.deepStrictEqual(reasons, ['token-revoked', 'token-revoked']);
});

run();
