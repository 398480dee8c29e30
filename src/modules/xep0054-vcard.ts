// XEP-0054 vcard-temp: a user sets their own vCard; any authenticated local user may read any
// local user's vCard (addressed to that user's bare JID). Stored as XML text, at most 64 KiB.
import { Buffer } from 'node:buffer';
import { NS } from '../ns.ts';
import type { IqRequest, ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import type { VCardStore } from './stores/vcard-store.ts';
import { parseStoredElement } from './stores/stored-xml.ts';

export const MAX_VCARD_BYTES = 64 * 1024;

export function vcardModule(deps: { readonly store: VCardStore; readonly maxBytes?: number }): WardenModule {
  const maxBytes = deps.maxBytes ?? MAX_VCARD_BYTES;
  return {
    name: 'vcard',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.vcard);

      ctx.handleIq('get', NS.vcard, 'account', async ({ from, to }: IqRequest) => {
        if (to.local !== from.local && ctx.service('blocking')?.isBlocked(to.local, from)) {
          // XEP-0191 'User Blocks Contact': to a contact they blocked, the user looks absent.
          throw new StanzaError('cancel', 'service-unavailable');
        }
        const stored = await deps.store.get(to.local);
        // XEP-0054 §3.1: no vCard (or no such user) — <item-not-found/>.
        if (stored === undefined) throw new StanzaError('cancel', 'item-not-found');
        return parseStoredElement(stored);
      });

      ctx.handleIq('set', NS.vcard, 'account', async ({ from, to, payload }: IqRequest) => {
        // XEP-0054 §3.2: a user may publish only their own vCard.
        if (to.local !== from.local) throw new StanzaError('auth', 'forbidden', 'You can only publish your own vCard');
        if (payload.getName() !== 'vCard') throw new StanzaError('modify', 'bad-request', 'Expected <vCard xmlns="vcard-temp"/>');
        const text = payload.toString();
        if (Buffer.byteLength(text, 'utf8') > maxBytes) {
          throw new StanzaError('modify', 'not-acceptable', `A vCard may be at most ${Math.floor(maxBytes / 1024)} KiB; make the photo smaller`);
        }
        await deps.store.set(from.local, text);
      });
    },
  };
}
