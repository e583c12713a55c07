// The npm client over TLS (https/wss) against a node whose client port has keyPath/certPath.
// Usage: HAPPN_PORT=… node tests/compat/tls-check.js
'use strict';
const assert = require('assert');
const Happn = require('happn-3');

(async () => {
  const port = parseInt(process.env.HAPPN_PORT, 10);
  const client = await Happn.client.create({
    protocol: 'https',
    host: '127.0.0.1',
    port,
    allowSelfSignedCerts: true,
  });
  await client.set('/tls/check', { secure: true });
  const got = await client.get('/tls/check');
  assert.strictEqual(got.secure, true);
  await client.disconnect();
  console.log('tls ok');
  process.exit(0);
})().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
