// End-to-end encrypted payloads the server cannot inspect. Pure: looks at the stanza only.
import type { Element } from '../xml.ts';

export type EncryptionKind = 'omemo' | 'omemo2' | 'openpgp' | 'pgp-legacy' | 'otr';

const ENCRYPTED_ELEMENTS: ReadonlyArray<[name: string, ns: string, kind: EncryptionKind]> = [
  ['encrypted', 'eu.siacs.conversations.axolotl', 'omemo'], // XEP-0384 (legacy namespace, what clients deploy)
  ['encrypted', 'urn:xmpp:omemo:2', 'omemo2'], // XEP-0384 current
  ['openpgp', 'urn:xmpp:openpgp:0', 'openpgp'], // XEP-0373
  ['x', 'jabber:x:encrypted', 'pgp-legacy'], // XEP-0027
];

/** Which end-to-end encryption, if any, the message carries. */
export function detectEncryption(stanza: Element): EncryptionKind | undefined {
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    for (const [name, ns, kind] of ENCRYPTED_ELEMENTS) {
      if (child.name === name && child.attrs.xmlns === ns) return kind;
    }
  }
  // OTR rides inside <body>: every OTR message (query, data, error) starts with "?OTR".
  const body = stanza.getChildText('body');
  if (body !== null && body.trimStart().startsWith('?OTR')) return 'otr';
  return undefined;
}

/** PEP nodes whose publication would set up end-to-end encryption (XEP-0384 device lists and bundles). */
export function isEncryptionSetupNode(node: string): boolean {
  return (
    node === 'eu.siacs.conversations.axolotl.devicelist' ||
    node.startsWith('eu.siacs.conversations.axolotl.bundles') ||
    node === 'urn:xmpp:omemo:2:devices' ||
    node === 'urn:xmpp:omemo:2:bundles' ||
    node.startsWith('urn:xmpp:openpgp:0:public-keys')
  );
}
