// happn-3's security model through the unmodified happn-3@13.12.1 client: users' own
// permissions, templated and slash-less permission paths, onBehalfOf, _ANONYMOUS,
// case-insensitive usernames, session profiles, tokens across servers, child sessions,
// TRANSACTIONAL event order, and live security changes in happn-3's payload shapes.
//
// The node(s) are set up by tests/security_model.rs (users, groups and profiles are listed
// there). HAPPN_PORT is node A; HAPPN_PORT_B a second server with its own database and the
// same sessionTokenSecret. With HAPPN_ADMIN_CLI and HAPPN_ADMIN_CONFIG set (a shared store),
// live changes are made with `happn-cluster admin` in its own process.
'use strict';

const assert = require('assert');
const { execFileSync } = require('child_process');
const Happn = require('happn-3');

const { test, track, delay, port, run } = require('./runner');

const portB = parseInt(process.env.HAPPN_PORT_B || '0', 10);
const cli = process.env.HAPPN_ADMIN_CLI;
const cliConfig = process.env.HAPPN_ADMIN_CONFIG;

// The client's security-directory handler runs inside its socket's data handler: a payload
// it cannot read throws there. Count such throws.
const uncaught = [];
process.on('uncaughtException', (e) => uncaught.push(e));

async function login(username, password, extra = {}) {
  return track(await Happn.client.create({ host: '127.0.0.1', port, username, password, ...extra }));
}

async function withToken(token, onPort = port) {
  return track(await Happn.client.create({ host: '127.0.0.1', port: onPort, token }));
}

async function rejectsWith(promise, pattern, code) {
  try {
    await promise;
  } catch (e) {
    assert.match(e.toString(), pattern);
    if (code !== undefined) assert.strictEqual(e.code, code, `code of ${e}`);
    return e;
  }
  assert.fail(`expected an error matching ${pattern}`);
}

async function eventually(what, check, ms = 8000) {
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

function admin(...args) {
  return execFileSync(cli, ['--config', cliConfig, 'admin', ...args], { encoding: 'utf8' });
}

test("a user's own permissions add to its groups', with templates filled in from the user", async () => {
  const root = await login('_ADMIN', 'admin-pass');
  await root.set('/team/red/doc', { t: 'red' });
  await root.set('/team/blue/doc', { t: 'blue' });
  const alice = await login('alice', 'alice-pass');
  await alice.set('/users/alice/notes', { mine: true });
  assert.strictEqual((await alice.get('/users/alice/notes')).mine, true);
  await rejectsWith(alice.set('/users/bob/notes', {}), /AccessDenied: unauthorized/, 403);
  assert.strictEqual((await alice.get('/team/red/doc')).t, 'red', 'the group template gives red');
  await rejectsWith(alice.get('/team/blue/doc'), /unauthorized/, 403);
  const bob = await login('bob', 'bob-pass');
  assert.strictEqual((await bob.get('/team/blue/doc')).t, 'blue');
  await rejectsWith(bob.get('/users/alice/notes'), /unauthorized/, 403);
});

test('a permission path written without its leading slash matches', async () => {
  const root = await login('_ADMIN', 'admin-pass');
  await root.set('/noslash/doc', { n: 1 });
  const alice = await login('alice', 'alice-pass');
  assert.strictEqual((await alice.get('/noslash/doc')).n, 1);
});

test("onBehalfOf applies the named user's permissions and records them as the writer", async () => {
  const root = await login('_ADMIN', 'admin-pass');
  const written = await root.set('/users/alice/by-admin', { x: 1 }, { onBehalfOf: 'alice' });
  assert.strictEqual(written._meta.modifiedBy, 'alice');
  await rejectsWith(
    root.set('/users/bob/by-admin', { x: 1 }, { onBehalfOf: 'alice' }),
    /AccessDenied: unauthorized/,
    403
  );
  await rejectsWith(root.get('/team/blue/doc', { onBehalfOf: 'alice' }), /unauthorized/, 403);
  await rejectsWith(root.set('/users/x/y', {}, { onBehalfOf: 'ghost' }), /does not exist/, 403);
  // Without onBehalfOf, _ADMIN keeps its rights.
  await root.set('/users/bob/by-admin', { x: 2 });
  const bob = await login('bob', 'bob-pass');
  await rejectsWith(
    bob.set('/users/alice/x', {}, { onBehalfOf: 'alice' }),
    /act on behalf of is not authorized/,
    403
  );
  const delegate = await login('delegate', 'delegate-pass');
  await delegate.set('/users/alice/by-delegate', { d: 1 }, { onBehalfOf: 'alice' });
  assert.strictEqual((await alice_get('/users/alice/by-delegate')).d, 1);
});

async function alice_get(path) {
  const alice = await login('alice', 'alice-pass');
  return alice.get(path);
}

test('_ANONYMOUS logs in without a password and has what its groups grant', async () => {
  const root = await login('_ADMIN', 'admin-pass');
  await root.set('/public/notice', { hello: 'world' });
  const anonymous = track(
    await Happn.client.create({ host: '127.0.0.1', port, username: '_ANONYMOUS' })
  );
  assert.strictEqual(anonymous.session.user.username, '_ANONYMOUS');
  assert.strictEqual((await anonymous.get('/public/notice')).hello, 'world');
  await rejectsWith(anonymous.set('/public/notice', {}), /unauthorized/, 403);
});

test('usernames are case-insensitive when configured', async () => {
  const carol = await login('CaRoL', 'carol-pass');
  assert.strictEqual(carol.session.user.username, 'carol');
  await rejectsWith(login('CAROL', 'wrong'), /Invalid credentials/, 401);
});

test("profiles: a matching session gets the profile's ttl, and the login says which", async () => {
  const robot = await login('robot', 'robot-pass', { info: { kind: 'robot' } });
  assert.strictEqual(robot.session.policy['1'].profile, 'robots');
  assert.strictEqual(robot.session.policy['1'].ttl, 1500);
  const plain = await login('robot', 'robot-pass');
  assert.strictEqual(plain.session.policy['1'].profile, 'default-stateful');
  let ended = null;
  robot.onEvent('session-ended', (data) => (ended = data && data.reason));
  await eventually('the robot session expired', () => ended === 'token-expired', 5000);
  // The token keeps the policy it was issued under, on the next login too.
  await rejectsWith(withToken(robot.session.token), /expired session token/, 401);
});

test('profiles: disallowTokenLogins, inactivity_threshold, sourceIPWhitelist', async () => {
  const once = await login('once', 'once-pass');
  await rejectsWith(withToken(once.session.token), /logins with this token are disallowed by policy/, 403);
  const idler = await login('idler', 'idler-pass');
  let ended = null;
  idler.onEvent('session-ended', (data) => (ended = data && data.reason));
  await eventually('the idle session ended', () => ended === 'inactivity-threshold', 5000);
  await rejectsWith(login('office', 'office-pass'), /Source address access restricted/, 401);
});

test('tokens work on another server sharing the token secret; lockTokenToOrigin keeps one home', async () => {
  const alice = await login('alice', 'alice-pass');
  const elsewhere = await withToken(alice.session.token, portB);
  assert.strictEqual(elsewhere.session.user.username, 'alice');
  await elsewhere.set('/users/alice/on-b', { b: true });
  const pinned = await login('pinned', 'pinned-pass');
  await withToken(pinned.session.token);
  await rejectsWith(
    withToken(pinned.session.token, portB),
    /this token is locked to a different origin by policy/,
    403
  );
});

test("disconnect({disconnectChildSessions}) ends the token's other sessions with token-revoked", async () => {
  const parent = await login('alice', 'alice-pass');
  const reasons = [];
  for (let i = 0; i < 3; i++) {
    const child = await withToken(parent.session.token);
    child.onEvent('session-ended', (data) => reasons.push(data && data.reason));
  }
  await parent.disconnect({ disconnectChildSessions: true });
  await eventually('three children ended', () => reasons.length === 3);
  assert.deepStrictEqual(reasons, ['token-revoked', 'token-revoked', 'token-revoked']);
});

test("TRANSACTIONAL: the event is on another session's socket before the writer's reply", async () => {
  // The server writes the other sessions' copies before the reply (it waits for them). The
  // client process may still read the reply first: two TCP connections are not ordered by
  // the kernel once the server writes them from different cores. Every event must arrive,
  // once, in order; how many were still in flight when the set resolved is reported.
  const writer = await login('_ADMIN', 'admin-pass');
  const listener = await login('_ADMIN', 'admin-pass');
  const seen = [];
  await listener.on('/order/*', (data) => seen.push(data.i));
  let late = 0;
  const rounds = 500;
  for (let i = 1; i <= rounds; i++) {
    await writer.set('/order/x', { i });
    if (seen.length !== i) late++;
  }
  await eventually('every event arrived', () => seen.length >= rounds);
  assert.deepStrictEqual(seen, Array.from({ length: rounds }, (_, k) => k + 1));
  console.log(`     (${late} of ${rounds} events were still in flight when set resolved)`);
});

if (cli && cliConfig) {
  test('a permission granted to a live user takes effect and reaches it as upsert-user', async () => {
    const root = await login('_ADMIN', 'admin-pass');
    await root.set('/granted/doc', { g: 1 });
    const alice = await login('alice', 'alice-pass');
    const changes = [];
    alice.onSystemMessage((key, data) => key === 'security-data-changed' && changes.push(data));
    await rejectsWith(alice.get('/granted/doc'), /unauthorized/, 403);
    admin('permissions', 'add', 'alice', '/granted/*', 'get,on', '--user');
    await eventually('alice may read /granted', async () => (await alice.get('/granted/doc')).g === 1);
    const change = await eventually('upsert-user arrived', () =>
      changes.find((c) => c.whatHappnd === 'permission-upserted' || c.whatHappnd === 'upsert-user')
    );
    assert.strictEqual(change.changedData.username, 'alice');
    admin('permissions', 'remove', 'alice', '/granted/*', '--user');
    await eventually('the grant is gone', () =>
      alice.get('/granted/doc').then(() => false, (e) => /unauthorized/.test(e.toString()))
    );
  });

  test("group changes reach live members in happn-3's shapes without breaking the client", async () => {
    const bob = await login('bob', 'bob-pass');
    const changes = [];
    bob.onSystemMessage((key, data) => key === 'security-data-changed' && changes.push(data));
    let events = 0;
    await bob.on('/team/blue/*', () => events++);
    admin('groups', 'add', 'team', '--allow', '/team/extra/*=get');
    const upsert = await eventually('upsert-group arrived', () =>
      changes.find((c) => c.whatHappnd === 'upsert-group')
    );
    assert.strictEqual(upsert.changedData.name, 'team');
    // (The client hands system messages over as null-prototype objects: compare as JSON.)
    assert.strictEqual(
      JSON.stringify(upsert.changedData.permissions),
      JSON.stringify({ '/team/extra/*': { actions: ['get'] } })
    );
    admin('unlink', 'bob', 'team');
    const unlink = await eventually('unlink-group arrived', () =>
      changes.find((c) => c.whatHappnd === 'unlink-group')
    );
    assert.strictEqual(unlink.changedData.path, '/_SYSTEM/_SECURITY/_USER/bob/_USER_GROUP/team');
    assert.strictEqual(typeof unlink.changedData.permissions, 'object');
    assert.ok(unlink.changedData.permissions['/team/{{user.custom_data.team}}/*']);
    await rejectsWith(bob.get('/team/blue/doc'), /unauthorized/, 403);
    admin('link', 'bob', 'team');
    await eventually('bob is back in team', async () => (await bob.get('/team/blue/doc')).t === 'blue');
  });
}

test('no security change made the client throw', async () => {
  assert.deepStrictEqual(uncaught.map(String), []);
});

run();
