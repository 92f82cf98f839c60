// End-to-end tests of the examples in headless Chromium: each example's
// page is loaded from its Go service, talks to a real resedge over
// WebSocket, and is driven the way a person would use it. Run from the
// repository root with `node --test examples/test/` (scripts/test.sh does).
// Screenshots go to test-artifacts/examples/<example>.png, process logs to
// test-artifacts/examples/logs/.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { artifactsDir, examplesDir, launchBrowser, startAll } from '../testkit/harness.mjs';

// How long a page may take to show what a test waits for.
const WAIT = 10_000;

let env;
let browser;

before(async () => {
  env = await startAll();
  browser = await launchBrowser();
}, { timeout: 300_000 });

after(async () => {
  await browser?.close();
  await env?.stop();
});

// open loads an example's page in a new browser context (its own cookies,
// localStorage and connection) and waits until it is connected to resedge.
// Uncaught page errors fail the test in check().
async function open(name, t) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.errors = [];
  page.on('pageerror', err => page.errors.push(err));
  await page.goto(`${env.pages[name]}?gateway=${encodeURIComponent(env.gatewayURL)}`);
  await waitText(page, '#status', 'Connected');
  return page;
}

function check(page) {
  assert.deepEqual(page.errors.map(String), [], 'uncaught errors in the page');
}

// waitText waits until the element's text contains text.
async function waitText(page, selector, text) {
  try {
    await page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent.includes(t), [selector, text]);
  } catch (err) {
    const actual = await page.locator(selector).textContent().catch(() => '(no such element)');
    throw new Error(`${selector} did not come to contain ${JSON.stringify(text)}; it says ${JSON.stringify(actual)}`, { cause: err });
  }
}

// waitValue waits until some element matching selector has the value.
async function waitValue(page, selector, value) {
  try {
    await page.waitForFunction(([s, v]) => [...document.querySelectorAll(s)].some(e => e.value === v), [selector, value]);
  } catch (err) {
    const actual = await page.evaluate(s => [...document.querySelectorAll(s)].map(e => e.value), selector).catch(() => []);
    throw new Error(`no ${selector} came to have the value ${JSON.stringify(value)}; they have ${JSON.stringify(actual)}`, { cause: err });
  }
}

function screenshot(page, name) {
  return page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });
}

test('the pages load the resclient npm package\'s own browser bundle', async () => {
  const served = await readFile(path.join(examplesDir, 'internal/app/shared/resclient.min.js'));
  const installed = await readFile(path.join(examplesDir, 'node_modules/resclient/dist/resclient.min.js'));
  assert.ok(served.equals(installed), 'examples/internal/app/shared/resclient.min.js differs from the installed resclient package: run `npm run vendor` in examples/');
});

describe('hello-world', () => {
  test('shows the message of the model hello.world', async t => {
    const page = await open('hello-world', t);
    await waitText(page, '#message', 'Hello, World!');
    await waitText(page, '#log', 'Got hello.world');
    await screenshot(page, 'hello-world');
    check(page);
  });
});

describe('edit-text', () => {
  test('two windows see each other\'s edits as they are typed', async t => {
    const a = await open('edit-text', t);
    const b = await open('edit-text', t);
    await a.waitForSelector('#text:not([disabled])');
    await b.waitForSelector('#text:not([disabled])');

    await a.locator('#text').fill('Written in window A');
    await waitValue(b, '#text', 'Written in window A');
    await waitText(b, '#info', 'from another window');

    // Key by key, as a person types.
    await b.locator('#text').press('End');
    await b.locator('#text').pressSequentially(', and in B', { delay: 20 });
    await waitValue(a, '#text', 'Written in window A, and in B');
    await waitValue(b, '#text', 'Written in window A, and in B');
    await waitText(a, '#info', 'from another window');
    await waitText(b, '#info', 'from this window');

    // As fast as keys go: several change events reach the page together,
    // and resclient hands them to the page after the model took them all.
    await b.locator('#text').pressSequentially(' at speed');
    await waitValue(a, '#text', 'Written in window A, and in B at speed');
    await waitValue(b, '#text', 'Written in window A, and in B at speed');
    await waitText(b, '#info', '38 characters · last change from this window');
    await waitText(a, '#info', '38 characters · last change from another window');

    await screenshot(a, 'edit-text');
    check(a);
    check(b);
  });

  test('a text that is too long is refused, and the error shown', async t => {
    const page = await open('edit-text', t);
    await page.waitForSelector('#text:not([disabled])');
    const before = await page.locator('#text').inputValue();
    await page.locator('#text').fill('x'.repeat(2001));
    await waitText(page, '#error', 'at most 2000 characters');
    // The page goes back to the text everyone has.
    await waitValue(page, '#text', before);
    check(page);
  });
});

describe('book-collection', () => {
  // row finds the list row of the book titled title.
  async function row(page, title) {
    await waitValue(page, 'li.book input.title', title);
    const idx = await page.evaluate(t => [...document.querySelectorAll('li.book input.title')].findIndex(i => i.value === t), title);
    return page.locator('li.book').nth(idx);
  }

  test('books added, edited and deleted in one window change in the other', async t => {
    const a = await open('book-collection', t);
    const b = await open('book-collection', t);
    await waitText(a, '#count', 'books');
    await waitText(b, '#count', 'books');
    const count = await b.locator('li.book').count();
    assert.ok(count >= 1, 'the library starts with books');

    // A adds a book; B sees it appear.
    await a.locator('#new-title').fill('Dune');
    await a.locator('#new-author').fill('Frank Herbert');
    await a.locator('#add').click();
    const inB = await row(b, 'Dune');
    assert.equal(await inB.locator('input.author').inputValue(), 'Frank Herbert');
    await waitText(b, '#count', `${count + 1} books`);
    await waitText(b, '#log', 'add event: "Dune"');

    // B renames it; A sees the new title.
    await inB.locator('input.title').fill('Dune Messiah');
    await inB.locator('input.title').press('Enter');
    const inA = await row(a, 'Dune Messiah');
    await waitText(a, '#log', 'title = "Dune Messiah"');

    // A clears the author: the service refuses, and A shows why.
    await inA.locator('input.author').fill('   ');
    await inA.locator('input.author').press('Enter');
    await waitText(a, 'li.book .notice.error:not(:empty)', 'Author must not be empty');
    assert.equal(await inA.locator('input.author').inputValue(), 'Frank Herbert');
    assert.equal(await inB.locator('input.author').inputValue(), 'Frank Herbert');

    // A book without a title cannot be added.
    await b.locator('#new-author').fill('Nobody');
    await b.locator('#add').click();
    await waitText(b, '#add-error', 'Title must not be empty');

    await screenshot(a, 'book-collection');

    // B deletes it; it leaves A's list.
    await inB.locator('[data-testid=delete]').click();
    await a.waitForFunction(() => ![...document.querySelectorAll('li.book input.title')].some(i => i.value === 'Dune Messiah'));
    await waitText(a, '#count', `${count} book`);
    await waitText(a, '#log', 'remove event: "Dune Messiah"');
    check(a);
    check(b);
  });
});

describe('jwt-authentication', () => {
  test('a wrong password gets no token, and the secret stays locked', async t => {
    const page = await open('jwt-authentication', t);
    await waitText(page, '#secret-badge', 'Access denied');
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill('not-the-password');
    await page.locator('#login').click();
    await waitText(page, '#login-notice', 'Wrong username or password');
    assert.equal(await page.locator('#token').inputValue(), '');
    await waitText(page, '#secret-badge', 'Access denied');
    check(page);
  });

  test('a valid token opens the secret; a forged one is refused and closes it', async t => {
    const page = await open('jwt-authentication', t);
    await page.locator('#username').fill('alice');
    await page.locator('#password').fill('wonderland');
    await page.locator('#login').click();
    await waitText(page, '#auth-notice', 'Token accepted: logged in as alice');
    await waitText(page, '#secret-badge', 'Access granted');
    await waitText(page, '#secret-text', 'The cake is in the fridge');
    await waitText(page, '#claims', 'user alice, role admin');
    await screenshot(page, 'jwt-authentication');

    // Change the payload to claim to be someone else, keeping the
    // signature: the service refuses the token and clears the
    // connection's token, and resedge takes the secret away.
    const token = await page.locator('#token').inputValue();
    const [header, , signature] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'mallory', role: 'admin', iat: 1, exp: 4102444800 })).toString('base64url');
    await page.locator('#token').fill(`${header}.${forged}.${signature}`);
    await waitText(page, '#claims', 'user mallory');
    await page.locator('#use').click();
    await waitText(page, '#auth-notice', 'Token refused: the signature does not match');
    await waitText(page, '#secret-badge', 'Access denied');

    // The real token works again; logging out locks the secret.
    await page.locator('#token').fill(token);
    await page.locator('#use').click();
    await waitText(page, '#secret-badge', 'Access granted');
    await page.locator('#logout').click();
    await waitText(page, '#auth-notice', 'Logged out');
    await waitText(page, '#secret-badge', 'Access denied');
    check(page);
  });
});

describe('password-authentication', () => {
  async function login(page, username, password) {
    await page.locator('#username').fill(username);
    await page.locator('#password').fill(password);
    await page.locator('#login').click();
  }

  test('refuses a wrong password, and grants what each user\'s role allows', async t => {
    const page = await open('password-authentication', t);
    await waitText(page, '#notes-badge', 'Access denied');
    await waitText(page, '#admin-badge', 'Access denied');

    await login(page, 'bob', 'wrong');
    await waitText(page, '#login-notice', 'Wrong username or password');
    await login(page, 'nobody', 'builder');
    await waitText(page, '#login-notice', 'Wrong username or password');
    await waitText(page, '#notes-badge', 'Access denied');

    // bob is a user: the notes, not the admin panel.
    await login(page, 'bob', 'builder');
    await waitText(page, '#user', 'bob');
    await waitText(page, '#notes-badge', 'Access granted');
    await waitText(page, '#notes-text', 'Team notes');
    await waitText(page, '#admin-text', 'bob is not one');
    assert.equal(await page.locator('#admin-badge').textContent(), 'Access denied');
    await screenshot(page, 'password-authentication');

    // Logging out takes the notes away.
    await page.locator('#logout').click();
    await waitText(page, '#login-notice', 'Logged out');
    await waitText(page, '#notes-badge', 'Access denied');

    // alice is an admin: both.
    await login(page, 'alice', 'wonderland');
    await waitText(page, '#notes-badge', 'Access granted');
    await waitText(page, '#admin-badge', 'Access granted');
    await waitText(page, '#admin-text', 'server room');
    check(page);
  });
});

describe('client-session', () => {
  test('the session survives a page reload and a gateway restart', async t => {
    const page = await open('client-session', t);
    await page.waitForSelector('#login-card:not([hidden])');

    await page.locator('#username').fill('alice');
    await page.locator('#password').fill('wrong');
    await page.locator('#login').click();
    await waitText(page, '#notice', 'Wrong username or password');

    await page.locator('#password').fill('wonderland');
    await page.locator('#login').click();
    await page.waitForSelector('#session-card:not([hidden])');
    await waitText(page, '#session-user', 'alice');
    await waitText(page, '#session-connects', '1');
    const sid = await page.locator('#session-id').textContent();
    assert.match(sid, /^[0-9a-f]{16}$/);

    // A reload is a new page and a new connection: the page logs in again
    // with the reissue token from localStorage.
    await Promise.all([page.waitForEvent('load'), page.locator('#reload').click()]);
    await page.waitForSelector('#session-card:not([hidden])');
    await waitText(page, '#session-connects', '2');
    assert.equal(await page.locator('#session-id').textContent(), sid);
    await waitText(page, '#log', 'relogin: session');

    // A gateway restart drops the connection; resclient reconnects, the
    // page logs in again, and the session model is resubscribed.
    await env.restartGateway();
    await waitText(page, '#session-connects', '3');
    await waitText(page, '#status', 'Connected');
    assert.equal(await page.locator('#session-id').textContent(), sid);
    await waitText(page, '#log', 'Connection to the gateway lost');
    await screenshot(page, 'client-session');

    // Logging out ends the session, for good.
    await page.locator('#logout').click();
    await page.waitForSelector('#login-card:not([hidden])');
    await waitText(page, '#notice', 'Logged out');
    await page.reload();
    await waitText(page, '#status', 'Connected');
    await page.waitForSelector('#login-card:not([hidden])');
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    check(page);
  });
});
