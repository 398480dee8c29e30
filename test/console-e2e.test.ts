// The web console end to end, in a real browser (Debian's chromium, headless) against a real
// server: an officer logs in, finds a flagged Chinese message by search, opens its conversation
// and resolves the incident from the keyboard-driven queue; an auditor then sees all of that in
// the access log and cannot open a message body. The officer also places and releases a legal
// hold (saying why) and exports a search, checking the downloaded file against its manifest once
// the export is complete. Around that: logging out leaves nothing for the next person at the
// browser, a session that ends keeps the page and its typing behind a re-login, dialogs are modal,
// the queue refreshes itself, and a 409 says what another officer changed. Screenshots of each
// main page are written to docs/screenshots/ on every run (the README shows them).
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { buildConsole } from '../scripts/build-console.ts';
import { hasChromium, launchBrowser, type TestBrowser } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { connectParty, isMessage, xml, type Party } from './support/xmpp.ts';

const SCREENSHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const OFFICER = { username: 'olivia', password: 'olivia-long-password', role: 'officer' } as const;
const AUDITOR = { username: 'audrey', password: 'audrey-long-password', role: 'auditor' } as const;
/** "Confidential": the keyword of the rule the scenario trips. */
const KEYWORD = '机密';
const FLAGGED_TEXT = `这份${KEYWORD}报价单请不要外传，客户是华东区的王总。`;
const HELD_TEXT = '附件是第三季度的客户名单，请查收。';

let t: TestServer;
let base: string;
let browser: TestBrowser;
let alice: Party;
let bob: Party;

async function call(path: string, token: string, method = 'GET', body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function created(path: string, body: unknown): Promise<any> {
  const res = await call(path, t.adminToken, 'POST', body);
  expect(res.status, `${path}: ${JSON.stringify(res.json)}`).toBe(201);
  return res.json;
}

/** alice sends bob `body`; resolves once bob has it (so it is archived and delivered). */
async function say(from: Party, to: Party, body: string, id: string): Promise<void> {
  await from.xmpp.send(xml('message', { to: to.jid.split('/')[0], type: 'chat', id }, xml('body', {}, body)));
  await to.next((el) => isMessage()(el) && el.getChildText('body') === body);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A new tab; when the test fails, its screen is saved to the temp folder and named in the log. */
async function openPage(): Promise<Page> {
  // Each test is its own visitor: no session cookie left over from the one before.
  await browser.context.clearCookies();
  const page = await browser.newPage();
  onTestFailed(async () => {
    const path = `${tmpdir()}/warden-console-failure-${Date.now()}.png`;
    await page.screenshot({ path }).catch(() => {});
    console.error(`console e2e: the page at the failure (${page.url()}) is in ${path}; errors: ${JSON.stringify(browser.errors)}`);
  });
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png` });

/** The list requests a page makes: every one must ask for one page (limit), never everything. */
function watchListRequests(page: Page): URL[] {
  const lists: URL[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (/^\/api\/v1\/(incidents|messages|conversations|access-log|accounts|tokens)\/?$/.test(url.pathname)) lists.push(url);
  });
  return lists;
}

async function logIn(page: Page, who: { username: string; password: string }): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('input[name=username]', who.username);
  await page.fill('input[name=password]', who.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=account]');
}

describe.skipIf(!hasChromium)('web console in a browser', () => {
  beforeAll(async () => {
    await buildConsole();
    await mkdir(SCREENSHOTS, { recursive: true });
    t = await startTestServer();
    base = `http://127.0.0.1:${t.server.ports.http}`;
    await created('/api/v1/accounts', OFFICER);
    await created('/api/v1/accounts', AUDITOR);
    await created('/api/v1/rules', { name: '机密 (confidential)', type: 'keywords', keywords: [KEYWORD, '绝密'], action: 'flag', severity: 'high', enabled: true, scope: {} });
    await created('/api/v1/rules', { name: '客户名单 (customer list)', type: 'keywords', keywords: ['客户名单'], action: 'hold', severity: 'critical', enabled: true, scope: {} });
    await created('/api/v1/rules', { name: 'Mainland mobile number', type: 'detector', detector: 'cn_mobile', action: 'flag', severity: 'medium', enabled: true, scope: {} });

    await t.addUser('alice', 'alice-password');
    await t.addUser('bob', 'bob-password');
    alice = await connectParty(t, 'alice', 'alice-password');
    bob = await connectParty(t, 'bob', 'bob-password');
    await say(alice, bob, '早上好！明天的评审会改到下午三点。', 'm1');
    await say(bob, alice, '好的，我会带上方案。', 'm2');
    await say(alice, bob, FLAGGED_TEXT, 'm3');
    await say(bob, alice, '收到，我的手机 13812345678，有事打给我。', 'm4');
    await say(alice, bob, 'Thanks, see you tomorrow.', 'm5');
    // Held until an officer decides: bob gets nothing yet.
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'm6' }, xml('body', {}, HELD_TEXT)));
    await until('the held message', async () => {
      const res = await call('/api/v1/incidents?hold=held', t.tokens.officer);
      return res.json.items.length > 0 ? true : undefined;
    });

    // The search index trails the archive by a few seconds; the console must find it as an officer would.
    await until('the flagged message in search', async () => {
      const res = await call(`/api/v1/messages?q=${encodeURIComponent(KEYWORD)}`, t.tokens.officer);
      return res.status === 200 && res.json.items.length > 0 ? true : undefined;
    });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await alice?.stop();
    await bob?.stop();
    await t?.close();
  });

  it('serves the console with strict security headers, and / leads to it', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    const index = await fetch(`${base}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await index.text();
    expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull(); // every script is a file: no inline script
    const script = /src="(app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${base}/console/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect(js.headers.get('cache-control')).toContain('immutable');
  });

  it('an officer finds a flagged Chinese message by search, opens the conversation and resolves the incident', async () => {
    const page = await openPage();
    const lists = watchListRequests(page);
    await page.goto(`${base}/`);
    await page.waitForSelector('form.login');
    expect(page.url()).toBe(`${base}/console/`);
    await shot(page, 'login');

    // A wrong password is refused with the server's words.
    await page.fill('input[name=username]', OFFICER.username);
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.problem');

    await logIn(page, OFFICER);
    // Officers land on the queue: the flagged message is there, its keyword marked in the excerpt.
    await page.waitForSelector('.incident-row');
    expect(page.url()).toContain('#/incidents');
    expect(await page.locator('.incident-row mark.mark-rule', { hasText: KEYWORD }).count()).toBe(1);
    expect(await page.locator('.incident-row').count()).toBe(3);
    // Times name their zone (the browser here runs in UTC).
    expect(await page.locator('.incident-row .when').first().textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await shot(page, 'queue');

    // Search in Chinese: g s jumps to search; results mark the term and the rule's match.
    await page.keyboard.press('g');
    await page.keyboard.press('s');
    await page.waitForSelector('input[name=q]');
    await page.fill('input[name=q]', KEYWORD);
    await page.press('input[name=q]', 'Enter');
    const hit = page.locator('.message-row', { hasText: '报价单' });
    await hit.waitFor();
    expect(await page.locator('.message-row').count()).toBe(1);
    expect(await hit.locator('mark').first().textContent()).toBe(KEYWORD);
    expect(decodeURIComponent(page.url())).toContain(`#/search?q=${KEYWORD}`);
    await shot(page, 'search');

    // Enter opens the conversation around the selected result, the flagged message outlined.
    await page.keyboard.press('Enter');
    await page.waitForSelector('.bubble.target');
    // m1…m6 (the held m6 is archived too), all within one page around m3.
    expect(await page.locator('.bubble').count()).toBe(6);
    expect(await page.locator('.bubble.target').textContent()).toContain('报价单');
    expect(await page.locator('.bubble.flagged').count()).toBe(3);
    await shot(page, 'conversation');

    // Back to the queue; the keyboard picks the incident of the 机密 message and opens it.
    await page.keyboard.press('g');
    await page.keyboard.press('q');
    await page.waitForSelector('.incident-row');
    const rows = page.locator('.incident-row');
    const texts = await rows.allTextContents();
    const target = texts.findIndex((text) => text.includes('报价单'));
    expect(target).toBeGreaterThanOrEqual(0);
    await page.keyboard.press('k'); // already at the top: stays
    for (let i = 0; i < target; i++) await page.keyboard.press('j');
    expect(await rows.nth(target).getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message-body]');
    expect(await page.locator('[data-testid=message-body]').textContent()).toBe(FLAGGED_TEXT);
    expect(await page.locator('[data-testid=message-body] mark.mark-rule').textContent()).toBe(KEYWORD);
    const incidentId = /#\/incidents\/([^?]+)/.exec(page.url())?.[1];
    expect(incidentId).toBeDefined();

    // Assign (a), choose "true positive" (t), write a note, resolve.
    await page.keyboard.press('a');
    await page.locator('.facts dd', { hasText: OFFICER.username }).waitFor();
    await page.keyboard.press('t');
    await page.keyboard.type('报价外泄，已提醒发送人。');
    await shot(page, 'incident');
    await page.click('form.resolve button[type=submit]');
    await page.locator('.status.resolved').first().waitFor();
    await page.locator('.events li', { hasText: 'resolve' }).waitFor();
    expect(await page.locator('.events').textContent()).toContain('报价外泄');

    // The server agrees.
    const stored = await call(`/api/v1/incidents/${incidentId}`, t.tokens.officer);
    expect(stored.json).toMatchObject({ status: 'resolved', disposition: 'true_positive', assignee: OFFICER.username });

    // u returns to the queue; the resolved row shows its new state without a refetch.
    await page.keyboard.press('u');
    await page.waitForSelector('.incident-row');
    expect(await page.locator('.incident-row.is-resolved').count()).toBe(1);

    // The keyboard help is a modal: focus inside it, the page behind inert, its keys resting.
    await page.keyboard.press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    expect(await page.locator('#app').getAttribute('inert')).toBe('');
    for (let i = 0; i < 6; i++) await page.keyboard.press('Tab');
    expect(await help.evaluate((el) => el.contains(document.activeElement))).toBe(true);
    await page.keyboard.press('g');
    await page.keyboard.press('s');
    expect(page.url()).toContain('#/incidents');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });
    expect(await page.locator('#app').getAttribute('inert')).toBeNull();

    // Holds: the held message waits for a decision. R asks first; Esc leaves it undecided.
    await page.keyboard.press('g');
    await page.keyboard.press('h');
    const held = page.locator('.hold-row', { hasText: '客户名单' });
    await held.waitFor();
    await page.keyboard.press('R');
    const confirmRelease = page.getByRole('dialog', { name: 'Release this held message?' });
    await confirmRelease.waitFor();
    await page.keyboard.press('Escape');
    await confirmRelease.waitFor({ state: 'detached' });
    expect(await held.count()).toBe(1);
    // R again, and Enter on the focused "Release": it is delivered to bob.
    await page.keyboard.press('R');
    await confirmRelease.waitFor();
    await page.keyboard.press('Enter');
    await held.waitFor({ state: 'detached' });
    await bob.next((el) => isMessage()(el) && el.getChildText('body') === HELD_TEXT);

    // Rules: the live dry run marks what the policy would match, as one types.
    await page.keyboard.press('g');
    await page.keyboard.press('r');
    await page.fill('textarea[name=dry-run]', '请把绝密文件发到 13900001111，谢谢');
    const result = page.locator('[data-testid=dry-run-result]');
    await result.locator('.verdict-flag').waitFor();
    expect(await result.locator('.body mark.mark-rule').allTextContents()).toEqual(['绝密', '13900001111']);
    await shot(page, 'rules');

    // At 1280 px the rules table ends before the dry-run box; at 800 px nothing is wider than the window.
    await page.setViewportSize({ width: 1280, height: 820 });
    const table = await page.locator('.rules-table').boundingBox();
    const dryRun = await page.locator('.rules-side').boundingBox();
    expect(table!.x + table!.width).toBeLessThanOrEqual(dryRun!.x);
    await page.setViewportSize({ width: 800, height: 820 });
    for (const path of ['#/rules', '#/incidents', '#/search?q=机密']) {
      await page.evaluate((hash) => (location.hash = hash), path);
      await page.locator('main h1').first().waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth), path).toBeLessThanOrEqual(800);
    }
    await page.setViewportSize({ width: 1360, height: 820 });

    await page.click('text=Log out');
    await page.waitForSelector('form.login');
    // The address no longer names what was open, and nothing the officer loaded is kept: an auditor
    // logging in at the same browser lands on the access log, and the queue's address shows them
    // the server's 403, not the officer's cached rows.
    expect(new URL(page.url()).hash).toBe('');
    await logIn(page, AUDITOR);
    await page.waitForSelector('table.log');
    expect(page.url()).toContain('#/access-log');
    await page.evaluate(() => (location.hash = '#/incidents'));
    await page.locator('.problem.status-403').waitFor();
    expect(await page.locator('.incident-row').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('报价单');
    await page.click('text=Log out');
    await page.waitForSelector('form.login');
    await page.close();

    expect(lists.map((u) => u.pathname)).toEqual(expect.arrayContaining(['/api/v1/incidents', '/api/v1/messages', '/api/v1/conversations']));
    for (const url of lists) {
      const limit = Number(url.searchParams.get('limit'));
      expect(limit, url.href).toBeGreaterThan(0);
      expect(limit, url.href).toBeLessThanOrEqual(100);
    }
  });

  it('an officer places and releases a legal hold, and exports a search with its manifest', async () => {
    // One hold already in place (a conversation), so the page shows both kinds.
    const standing = await call('/api/v1/legal-holds', t.tokens.officer, 'POST', { kind: 'conversation', a: 'alice', b: 'bob', reason: 'Matter 2025-031: customer list leak' });
    expect(standing.status, JSON.stringify(standing.json)).toBe(201);
    const page = await openPage();
    await logIn(page, OFFICER);
    await page.waitForSelector('.incident-row');

    // g p: legal holds. Place one on a user by username; the server names the bare JID.
    await page.keyboard.press('g');
    await page.keyboard.press('p');
    await page.locator('tr.legal-hold-row', { hasText: 'Matter 2025-031' }).waitFor();
    await page.fill('form.new-hold input[name=jid]', 'alice');
    await page.fill('form.new-hold input[name=reason]', '诉讼保全：案件 2025-017');
    // The session ends meanwhile (here: the cookie is gone). Placing the hold meets a 401: the
    // page is kept, hidden, behind a re-login for the same account; after it the hold is placed.
    await browser.context.clearCookies();
    await page.click('form.new-hold button[type=submit]');
    const relogin = page.getByRole('dialog', { name: 'Your session has ended' });
    await relogin.waitFor();
    expect(await page.locator('.shell').isHidden()).toBe(true);
    expect(await relogin.textContent()).toContain(OFFICER.username);
    await relogin.locator('input[name=password]').fill(OFFICER.password);
    await relogin.locator('button[type=submit]').click();
    await relogin.waitFor({ state: 'detached' });
    const hold = page.locator('tr.legal-hold-row', { hasText: '诉讼保全' });
    await hold.waitFor();
    expect(await hold.locator('a.target').textContent()).toBe('alice@localhost');
    expect(await page.locator('tr.legal-hold-row').count()).toBe(2);
    const active = await call('/api/v1/legal-holds?active=true', t.tokens.officer);
    expect(active.json.items[0]).toMatchObject({ kind: 'user', jid: 'alice@localhost', createdBy: OFFICER.username, releasedAt: null });
    expect(active.json.items.filter((h: { reason: string }) => h.reason.startsWith('诉讼保全'))).toHaveLength(1); // placed once
    // A reason of only spaces: the server's words are shown.
    await page.fill('form.new-hold input[name=jid]', 'bob');
    await page.fill('form.new-hold input[name=reason]', '   ');
    await page.click('form.new-hold button[type=submit]');
    await page.locator('.problem', { hasText: 'reason' }).waitFor();
    // Release it: the dialog asks why, and will not release without a reason.
    await hold.locator('button', { hasText: 'Release' }).click();
    const release = page.getByRole('dialog', { name: /^Release legal hold #\d+\?$/ });
    await release.waitFor();
    expect(await release.locator('button[type=submit]').isDisabled()).toBe(true);
    await release.locator('textarea[name=release-reason]').fill('案件已和解 (matter settled)');
    await release.locator('button[type=submit]').click();
    await release.waitFor({ state: 'detached' });
    await hold.waitFor({ state: 'detached' });
    await page.click('a.chip:text-is("Released")');
    const releasedRow = page.locator('tr.legal-hold-row.is-released', { hasText: '诉讼保全' });
    await releasedRow.waitFor();
    expect(await releasedRow.locator('[data-testid=release-reason]').textContent()).toBe('案件已和解 (matter settled)');
    // All: the standing hold and the released one, with who released it, when and why.
    await page.click('a.chip:text-is("All")');
    await page.waitForFunction(() => document.querySelectorAll('tr.legal-hold-row').length === 2);
    await shot(page, 'legal-holds');
    const released = await call('/api/v1/legal-holds?active=false', t.tokens.officer);
    expect(released.json.items).toEqual([expect.objectContaining({ jid: 'alice@localhost', releasedBy: OFFICER.username, releaseReason: '案件已和解 (matter settled)' })]);

    // Export the search result as JSON Lines; the file is what the manifest says.
    await page.keyboard.press('g');
    await page.keyboard.press('s');
    await page.fill('input[name=q]', KEYWORD);
    await page.press('input[name=q]', 'Enter');
    await page.locator('.message-row').first().waitFor();
    await page.selectOption('select[name=export-format]', 'jsonl');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-link]')]);
    const fileName = download.suggestedFilename();
    expect(fileName).toMatch(/^warden-export-\d+\.jsonl$/);
    const exportId = /^warden-export-(\d+)\./.exec(fileName)![1];
    const file = await readFile((await download.path())!);
    const rows = file.toString('utf8').trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(rows.map((r) => r.body)).toEqual([FLAGGED_TEXT]);
    // The manifest says complete only once the whole response has left the server: wait for that.
    const finished = await until('the export manifest to finish', async () => {
      const res = await call(`/api/v1/exports/${exportId}`, t.tokens.officer);
      return res.json.status === 'running' ? undefined : res.json;
    });
    expect(finished).toMatchObject({ status: 'complete', failure: null });
    const digest = createHash('sha256').update(file).digest('hex');
    expect(finished.sha256).toBe(digest);
    await page.click('.export-started a');
    const manifest = page.locator(`tr[data-export="${exportId}"][data-status=complete]`);
    await manifest.waitFor();
    expect(Number(await manifest.locator('[data-testid=export-count]').textContent())).toBe(1);
    const sha256 = await manifest.locator('[data-testid=export-sha256]').textContent();
    expect(sha256).toBe(digest);
    await shot(page, 'exports');
    await page.close();
  });

  it('the queue refreshes itself, keeping the selected row; an action another officer beat is answered with what they changed', async () => {
    const page = await openPage();
    // A controllable clock: 30 s of refresh interval pass in an instant.
    await page.clock.install();
    await logIn(page, OFFICER);
    await page.waitForSelector('.incident-row');
    const before = await page.locator('.incident-row').count();
    await page.keyboard.press('j');
    const selected = page.locator('.incident-row[aria-selected=true]');
    const selectedId = await selected.getAttribute('data-incident');
    expect(selectedId).not.toBeNull();

    // A new incident arrives on top; the queue shows it by itself, the cursor stays on its row.
    await say(alice, bob, '这是绝密材料，请勿转发。', 'm7');
    await page.clock.fastForward(31_000);
    await page.waitForFunction((n) => document.querySelectorAll('.incident-row').length === n + 1, before);
    expect(await selected.getAttribute('data-incident')).toBe(selectedId);
    const newest = page.locator('.incident-row').first();
    expect(await newest.textContent()).toContain('绝密');
    const newestId = (await newest.getAttribute('data-incident'))!;

    // Open it; another officer resolves it meanwhile; resolving here meets a 409, and the page
    // shows the incident as it now is and what changed.
    await page.keyboard.press('Home');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=message-body]');
    const other = await call(`/api/v1/incidents/${newestId}/resolve`, t.tokens.officer, 'POST', { disposition: 'false_positive' });
    expect(other.status).toBe(200);
    await page.keyboard.press('t');
    await page.click('form.resolve button[type=submit]');
    await page.locator('.problem.status-409').waitFor();
    const changed = page.locator('[data-testid=incident-changed]');
    await changed.waitFor();
    expect(await changed.textContent()).toContain('Status: open → resolved as False positive');
    expect(await page.locator('.status.resolved').first().textContent()).toContain('False positive');
    await page.close();
  });

  it('an auditor sees the officer’s reads and decision in the access log, and cannot open a message body', async () => {
    const page = await openPage();
    await logIn(page, AUDITOR);
    // Auditors land on the access log.
    await page.waitForSelector('table.log tbody tr');
    expect(page.url()).toContain('#/access-log');
    // The filter offers the newer actions too.
    const offered = await page.locator('select[name=action] option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(offered).toEqual(expect.arrayContaining(['access-log.verify', 'archive.verify', 'retro-scan.start', 'retro-scan.cancel', 'alert.sent', 'account.password']));
    /** Filters by actor through the form and loads every page of the answer. */
    const entriesOf = async (actor: string) => {
      await page.fill('input[name=actor]', actor);
      await page.click('form.filter-form button[type=submit]');
      await page.waitForFunction((a) => {
        const rows = [...document.querySelectorAll('table.log tbody tr[data-action]')];
        return rows.length > 0 && rows.every((tr) => tr.children[2]?.textContent === a);
      }, actor);
      const more = page.locator('.list-foot button', { hasText: 'Load more' });
      while ((await more.count()) > 0) {
        const before = await page.locator('table.log tbody tr[data-action]').count();
        await more.click();
        await page.waitForFunction((n) => document.querySelectorAll('table.log tbody tr[data-action]').length > n, before);
      }
      return page.locator('table.log tbody tr[data-action]');
    };
    const olivia = await (await entriesOf(OFFICER.username)).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')));
    for (const action of ['login', 'incident.list', 'search', 'conversation.read', 'incident.read', 'incident.assign', 'incident.resolve', 'hold.release', 'logout', 'legal-hold.create', 'legal-hold.release', 'export']) {
      expect(olivia, action).toContain(action);
    }
    // API calls name the token they used: the test's officer account works through one.
    const tokenCells = await (await entriesOf('officer')).locator('[data-testid=token-id]').allTextContents();
    expect(tokenCells.some((id) => id.trim() !== '')).toBe(true);
    // Filter by actor and action through the form.
    await page.fill('input[name=actor]', OFFICER.username);
    await page.selectOption('select[name=action]', 'incident.resolve');
    await page.click('form.filter-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('table.log tbody tr[data-action]').length === 1);
    expect(await page.locator('table.log tbody tr[data-action]').getAttribute('data-action')).toBe('incident.resolve');
    await page.click('text=Verify the access log chain');
    await page.locator('[data-testid=access-log-verify].ok').waitFor();
    await page.fill('input[name=actor]', '');
    await page.selectOption('select[name=action]', '');
    await page.click('form.filter-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('table.log tbody tr[data-action]').length > 5);
    await shot(page, 'access-log');

    // No message body for an auditor: the incident and the conversation answer 403, shown plainly.
    const incidents = await call('/api/v1/incidents?status=resolved', t.tokens.officer);
    const resolved = incidents.json.items.find((i: { matches: { match: string }[] }) => i.matches.some((m) => m.match === KEYWORD));
    await page.goto(`${base}/console/#/incidents/${resolved.id}`);
    await page.locator('.problem.status-403').waitFor();
    expect(await page.locator('[data-testid=message-body]').count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('报价单');
    await page.goto(`${base}/console/#/conversation?a=${resolved.from}&b=${resolved.to}`);
    await page.locator('.problem.status-403').waitFor();
    expect(await page.locator('.bubble').count()).toBe(0);
    // Nor does the navigation offer those pages.
    expect(await page.locator('header nav a').allTextContents()).toEqual(['Access log', 'Verify']);

    // Verify: the archive's chains are intact.
    await page.goto(`${base}/console/#/verify`);
    await page.click('text=Verify the archive');
    await page.locator('[data-testid=archive-verify] .ok').first().waitFor();
    // Each chain's head, to note down (the CLI checks it later with --expect).
    expect(await page.locator('[data-testid=archive-verify] tbody tr').first().textContent()).toMatch(/#\d+ [0-9a-f]{12}…/);
    // The access log's head, to note down; a head noted earlier is checked: still there, or not.
    await page.locator('.verify button', { hasText: 'Verify the access log chain' }).click();
    const head = page.locator('.verify [data-testid=access-log-head]');
    await head.waitFor();
    const seq = (await head.locator('.mono').first().textContent())!.replace('#', '');
    const hash = (await head.locator('code.hash').getAttribute('title'))!;
    expect(seq).toMatch(/^\d+$/);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    await page.fill('input[name=expectSeq]', seq);
    await page.fill('input[name=expectHash]', hash);
    await page.click('form.noted-head button[type=submit]');
    await page.locator('[data-testid=noted-head-result].ok').waitFor();
    expect(await page.locator('[data-testid=noted-head-result]').textContent()).toContain(`Entry #${seq} is still in the chain`);
    await shot(page, 'verify');
    const wrong = `${hash.slice(0, 63)}${hash.endsWith('0') ? '1' : '0'}`;
    await page.fill('input[name=expectHash]', wrong);
    await page.click('form.noted-head button[type=submit]');
    await page.locator('[data-testid=noted-head-result].broken', { hasText: 'hash differs' }).waitFor();
    await page.close();
    expect(browser.errors).toEqual([]);
  });
});
