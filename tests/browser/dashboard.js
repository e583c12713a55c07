// Drives the cluster dashboard in headless Chromium (Debian's binary, through playwright-core):
// logs in when the node is secure, waits for every member to show as a PEER of a STABLE
// node, SIGKILLs one node, waits for it to leave the page, and saves screenshots.
//
// Environment:
//   DASHBOARD_URL   the dashboard of the node to watch (http://127.0.0.1:P/dashboard)
//   EXPECT_MEMBERS  how many members a stable cluster shows
//   KILL_PID        the pid of the node to kill; KILL_NAME its member name
//   ADMIN_PASSWORD  when set, log in as _ADMIN with it
//   SHOTS           folder for the screenshots
// Prints one JSON line per step; exits 1 on any failure (with a screenshot of the page).
'use strict';

const path = require('path');
const { chromium } = require('playwright-core');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function main() {
  const url = env('DASHBOARD_URL');
  const expected = Number(env('EXPECT_MEMBERS'));
  const killPid = Number(env('KILL_PID'));
  const killName = env('KILL_NAME');
  const shots = env('SHOTS');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  try {
    await page.goto(url);
    if (process.env.ADMIN_PASSWORD) {
      await page.waitForSelector('#login:not([hidden])', { timeout: 10000 });
      await page.fill('#password', process.env.ADMIN_PASSWORD);
      await page.click('#login-form button');
    }
    // Every member a PEER, the node STABLE, the stream live.
    await page.waitForFunction((n) => {
      const rows = document.querySelectorAll('#members tr[data-state="PEER"]');
      return rows.length === n && document.getElementById('state').textContent === 'STABLE'
        && document.getElementById('stream').textContent === 'live';
    }, expected, { timeout: 30000 });
    const before = await page.$$eval('#members tr', (rows) => rows.map((r) => r.dataset.member));
    await page.screenshot({ path: path.join(shots, 'dashboard-stable.png'), fullPage: true });
    console.log(JSON.stringify({ step: 'stable', members: before }));

    process.kill(killPid, 'SIGKILL');
    console.log(JSON.stringify({ step: 'killed', pid: killPid, name: killName }));
    await page.waitForFunction((name) =>
      !document.querySelector(`#members tr[data-member="${name}"]`)
      && document.querySelectorAll('#members tr').length > 0, killName, { timeout: 30000 });
    const after = await page.$$eval('#members tr', (rows) => rows.map((r) => r.dataset.member));
    await page.screenshot({ path: path.join(shots, 'dashboard-after-kill.png'), fullPage: true });
    console.log(JSON.stringify({ step: 'left', members: after, problems }));
    if (problems.length) throw new Error(problems.join('; '));
  } catch (e) {
    await page.screenshot({ path: path.join(shots, 'dashboard-failure.png'), fullPage: true }).catch(() => {});
    console.log(JSON.stringify({ step: 'failed', error: String(e && e.message || e), problems }));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ step: 'failed', error: String(e && e.message || e) }));
  process.exit(1);
});
