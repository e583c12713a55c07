// The tiny test runner both compatibility suites share: register tests with `test`, track
// clients to disconnect with `track`, then `run()` prints one line per test and a summary and
// exits non-zero on any failure.
'use strict';

const tests = [];
const clients = [];

/** Registers a test. */
const test = (name, fn) => tests.push({ name, fn });

/** Remembers a client so `run` disconnects it at the end. */
const track = (client) => {
  clients.push(client);
  return client;
};

/** Resolves after `ms` milliseconds. */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The port of the node under test (HAPPN_PORT). */
const port = parseInt(process.env.HAPPN_PORT || '55000', 10);

/** Runs every registered test in order, then exits. */
async function run() {
  let failed = 0;
  for (const { name, fn } of tests) {
    const started = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}\n     ${(e && e.stack) || e}`);
    }
  }
  for (const c of clients) {
    try {
      await c.disconnect();
    } catch (_) {}
  }
  console.log(`${tests.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

module.exports = { test, track, delay, port, run };
