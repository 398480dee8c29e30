import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { xml } from '../xml.ts';
import { errorCondition, harness } from './test-kit.ts';
import { packageVersion, versionModule } from './xep0092-version.ts';

describe('XEP-0092 software version', () => {
  it('reads the version from package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(packageVersion()).toBe(pkg.version);
  });

  it('answers name and version, and no operating system unless configured', async () => {
    const h = harness(() => [versionModule({ version: '1.2.3' })]);
    const alice = h.connect('alice', 'r');
    const query = (await h.iq(alice, 'get', xml('query', { xmlns: NS.version }), 'localhost')).getChild('query', NS.version);
    expect(query?.getChildText('name')).toBe('Warden');
    expect(query?.getChildText('version')).toBe('1.2.3');
    expect(query?.getChild('os')).toBeUndefined();
  });

  it('includes <os/> when given one', async () => {
    const h = harness(() => [versionModule({ version: '1', os: 'Linux' })]);
    const alice = h.connect('alice', 'r');
    const query = (await h.iq(alice, 'get', xml('query', { xmlns: NS.version }), 'localhost')).getChild('query', NS.version);
    expect(query?.getChildText('os')).toBe('Linux');
  });

  it('does not answer for a user’s bare JID (that is the client’s to answer, at a full JID)', async () => {
    const h = harness(() => [versionModule()]);
    const alice = h.connect('alice', 'r');
    expect(errorCondition(await h.iq(alice, 'get', xml('query', { xmlns: NS.version }), 'bob@localhost'))).toBe('service-unavailable');
  });
});
