// Publishing end-to-end encryption keys (XEP-0384 OMEMO device lists and bundles, XEP-0373
// OpenPGP keys) over PEP is refused when encrypted messages are blocked, with the same
// explanation, so clients fall back to plaintext instead of failing later message by message.
// Warden has no PEP service yet: every other pubsub request to an account is service-unavailable.
import { ENCRYPTED_TEXT } from '../audit/pipeline.ts';
import { isEncryptionSetupNode } from '../audit/encryption.ts';
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import { StanzaError } from '../stanza/stanza-error.ts';

export function encryptionRefusalModule(opts: { blockEncrypted: boolean }): WardenModule {
  return {
    name: 'encryption-refusal',
    load(ctx) {
      ctx.handleIq('set', NS.pubsub, 'account', ({ payload }) => {
        const node = payload.getChild('publish')?.attrs.node as string | undefined;
        if (opts.blockEncrypted && node !== undefined && isEncryptionSetupNode(node)) {
          throw new StanzaError('cancel', 'policy-violation', ENCRYPTED_TEXT);
        }
        throw new StanzaError('cancel', 'service-unavailable');
      });
    },
  };
}
