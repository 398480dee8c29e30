import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import { xml } from '../xml.ts';
import type { VCardStore } from './stores/vcard-store.ts';
import { errorCondition, harness } from './test-kit.ts';
import { vcardModule } from './xep0054-vcard.ts';

function setup(extra: WardenModule[] = []) {
  const data = new Map<string, string>();
  const store: VCardStore = { get: async (u) => data.get(u), set: async (u, v) => void data.set(u, v) };
  return { h: harness(() => [vcardModule({ store, maxBytes: 1024 }), ...extra]), data };
}

const vcard = (fn: string) => xml('vCard', { xmlns: NS.vcard }, xml('FN', {}, fn), xml('NICKNAME', {}, '<&>'));

describe('XEP-0054 vcard-temp', () => {
  it('sets one’s own vCard and reads it back, as may any other local user', async () => {
    const { h } = setup();
    const juliet = h.connect('juliet', 'r');
    const romeo = h.connect('romeo', 'r');
    expect(errorCondition(await h.iq(juliet, 'set', vcard('Juliet Capulet')))).toBeUndefined();
    const own = (await h.iq(juliet, 'get', xml('vCard', { xmlns: NS.vcard }))).getChild('vCard', NS.vcard);
    expect(own?.getChildText('FN')).toBe('Juliet Capulet');
    expect(own?.getChildText('NICKNAME')).toBe('<&>');
    const theirs = (await h.iq(romeo, 'get', xml('vCard', { xmlns: NS.vcard }), 'juliet@localhost')).getChild('vCard', NS.vcard);
    expect(theirs?.getChildText('FN')).toBe('Juliet Capulet');
  });

  it('answers <item-not-found/> for a user without a vCard', async () => {
    const { h } = setup();
    const romeo = h.connect('romeo', 'r');
    expect(errorCondition(await h.iq(romeo, 'get', xml('vCard', { xmlns: NS.vcard }), 'juliet@localhost'))).toBe('item-not-found');
    expect(errorCondition(await h.iq(romeo, 'get', xml('vCard', { xmlns: NS.vcard })))).toBe('item-not-found');
  });

  it('refuses to set another user’s vCard', async () => {
    const { h, data } = setup();
    const romeo = h.connect('romeo', 'r');
    expect(errorCondition(await h.iq(romeo, 'set', vcard('Not Juliet'), 'juliet@localhost'))).toBe('forbidden');
    expect(data.has('juliet')).toBe(false);
  });

  it('refuses a vCard over the size limit with <not-acceptable/>', async () => {
    const { h, data } = setup();
    const juliet = h.connect('juliet', 'r');
    const big = xml('vCard', { xmlns: NS.vcard }, xml('PHOTO', {}, xml('BINVAL', {}, 'A'.repeat(2000))));
    const reply = await h.iq(juliet, 'set', big);
    expect(errorCondition(reply)).toBe('not-acceptable');
    expect(data.has('juliet')).toBe(false);
  });

  it('hides the vCard from someone the user blocked', async () => {
    const blocking: WardenModule = { name: 'b', load: (ctx) => ctx.provide('blocking', { isBlocked: (l, o) => l === 'juliet' && o.local === 'tybalt' }) };
    const { h } = setup([blocking]);
    const juliet = h.connect('juliet', 'r');
    const tybalt = h.connect('tybalt', 'r');
    await h.iq(juliet, 'set', vcard('Juliet'));
    expect(errorCondition(await h.iq(tybalt, 'get', xml('vCard', { xmlns: NS.vcard }), 'juliet@localhost'))).toBe('service-unavailable');
  });
});
