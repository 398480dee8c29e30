import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { harness } from './test-kit.ts';
import { formatTzo, formatUtc, timeModule } from './xep0202-time.ts';
import { xml } from '../xml.ts';

describe('XEP-0202 formats (XEP-0082)', () => {
  it.each([
    [0, '+00:00'],
    [-0, '+00:00'],
    [60, '+01:00'],
    [330, '+05:30'],
    [-300, '-05:00'],
    [-570, '-09:30'],
  ])('offset %i minutes east is %s', (minutes, tzo) => {
    expect(formatTzo(minutes)).toBe(tzo);
  });

  it('writes UTC to the second with a Z', () => {
    expect(formatUtc(new Date('2006-12-19T17:58:35.123Z'))).toBe('2006-12-19T17:58:35Z');
  });
});

describe('XEP-0202 entity time', () => {
  it('answers the server’s time with tzo and utc', async () => {
    const h = harness(() => [timeModule(() => new Date('2024-02-29T23:59:59.900Z'))]);
    const alice = h.connect('alice', 'r');
    const reply = await h.iq(alice, 'get', xml('time', { xmlns: NS.time }), 'localhost');
    const time = reply.getChild('time', NS.time);
    expect(time?.getChildText('utc')).toBe('2024-02-29T23:59:59Z');
    expect(time?.getChildText('tzo')).toMatch(/^[+-]\d\d:\d\d$/);
    expect(h.host.discoFeatures()).toEqual([NS.time]);
  });
});
