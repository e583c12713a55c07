// Secure-node compatibility suite: the unmodified happn-3@13.12.1 client against a node with
// `secure: true`. Users (created by tests/compat.rs): _ADMIN/admin-pass, reader/reader-pass
// (get+on /shared/*, prohibit get+on /shared/secret/*), writer/writer-pass (* on /shared/*,
// set on /inbox/*), locky/locky-pass (for the lockout test).
'use strict';

const assert = require('assert');
const Happn = require('happn-3');

const { test, track, delay, port, run } = require('./runner');

async function login(username, password, extra = {}) {
  return track(await Happn.client.create({ host: '127.0.0.1', port, username, password, ...extra }));
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

test('admin logs in; wrong password and unknown user are refused with 401', async () => {
  const admin = await login('_ADMIN', 'admin-pass');
  assert.ok(admin.session.token, 'the login reply carries a token');
  await admin.set('/shared/hello', { from: 'admin' });
  await rejectsWith(login('_ADMIN', 'wrong'), /AccessDenied: Invalid credentials/, 401);
  await rejectsWith(login('nobody', 'x'), /AccessDenied: Invalid credentials/, 401);
});

test('anonymous connections are refused on a secure node', async () => {
  await rejectsWith(Happn.client.create({ host: '127.0.0.1', port }), /happn server is secure/);
});

test('permitted and forbidden get/set/remove, prohibit, nothing written', async () => {
  const reader = await login('reader', 'reader-pass');
  const writer = await login('writer', 'writer-pass');
  await writer.set('/shared/doc', { v: 1 });
  await writer.set('/shared/secret/doc', { v: 2 });
  assert.strictEqual((await reader.get('/shared/doc')).v, 1);
  await rejectsWith(reader.set('/shared/doc', { v: 9 }), /AccessDenied: unauthorized/, 403);
  await rejectsWith(reader.remove('/shared/doc'), /AccessDenied: unauthorized/, 403);
  await rejectsWith(reader.get('/shared/secret/doc'), /AccessDenied: unauthorized/, 403);
  await rejectsWith(reader.get('/elsewhere'), /AccessDenied: unauthorized/, 403);
  assert.strictEqual((await writer.get('/shared/doc')).v, 1, 'nothing was written');
  assert.strictEqual((await reader.count('/shared/*')).value >= 2, true);
  await writer.set('/inbox/1', {});
  await rejectsWith(writer.get('/inbox/1'), /AccessDenied: unauthorized/, 403);
  await rejectsWith(writer.get('/_SYSTEM/_SECURITY/_USER/reader'), /AccessDenied/, 403);
  const stillWorks = await reader.get('/shared/doc');
  assert.strictEqual(stillWorks.v, 1, 'the session stays usable');
});

test('events only where on is allowed', async () => {
  const reader = await login('reader', 'reader-pass');
  const writer = await login('writer', 'writer-pass');
  const seen = [];
  await reader.on('/shared/*', (data, meta) => seen.push(meta.path));
  await rejectsWith(reader.on('/inbox/*', () => {}), /AccessDenied: unauthorized/, 403);
  await rejectsWith(reader.onAll(() => {}), /AccessDenied: unauthorized/, 403);
  await writer.set('/shared/event', { e: 1 });
  await writer.set('/inbox/event', { e: 2 });
  await delay(150);
  assert.deepStrictEqual(seen, ['/shared/event']);
});

test('token login works and a tampered token is refused', async () => {
  const reader = await login('reader', 'reader-pass');
  const token = reader.session.token;
  const byToken = await Happn.client.create({ host: '127.0.0.1', port, token });
  track(byToken);
  assert.strictEqual((await byToken.get('/shared/doc')).v, 1);
  const last = token[token.length - 1] === 'A' ? 'B' : 'A';
  const tampered = token.slice(0, -1) + last;
  await rejectsWith(Happn.client.create({ host: '127.0.0.1', port, token: tampered }), /AccessDenied/, 401);
  await rejectsWith(
    Happn.client.create({ host: '127.0.0.1', port, token: 'garbage' }),
    /AccessDenied: Invalid credentials: invalid session token/,
    401
  );
});

test('disconnect({revokeToken}) ends every session created from the token', async () => {
  const first = await login('reader', 'reader-pass');
  const token = first.session.token;
  const second = await Happn.client.create({ host: '127.0.0.1', port, token });
  track(second);
  const ended = [];
  second.onEvent('session-ended', (data) => ended.push(data && data.reason));
  await first.disconnect({ revokeToken: true });
  const until = Date.now() + 3000;
  while (!ended.length && Date.now() < until) await delay(20);
  assert.deepStrictEqual(ended.slice(0, 1), ['token-revoked']);
  // happn-3 answers a revoked token with AccessDenied 403 (access denied, not bad credentials).
  await rejectsWith(Happn.client.create({ host: '127.0.0.1', port, token }), /revoked/, 403);
});

test('account lockout after 4 failures', async () => {
  for (let i = 0; i < 4; i++) {
    await rejectsWith(login('locky', 'wrong'), /Invalid credentials/, 401);
  }
  // As happn-3: a lock is AccessDenied 403, while wrong credentials are 401.
  await rejectsWith(login('locky', 'locky-pass'), /Account locked out/, 403);
});

run();
