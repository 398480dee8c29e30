// XEP-0077 In-Band Registration (jabber:iq:register), off unless REGISTRATION_ENABLED.
//
// After authentication (this module): a user changes their password (§3.3) or removes their
// account (§3.2). Before authentication (§3.1, creating an account) the stream core must hand
// jabber:iq:register iqs to `preAuthRegistration` below; that hook is not wired into
// c2s-session.ts yet, so account creation over XMPP is not offered.
import type { ScramCredential } from '../auth/scram-credential.ts';
import { NS } from '../ns.ts';
import { normalizeLocalpart } from '../stanza/jid.ts';
import type { IqRequest, ModuleContext, WardenModule } from '../stanza/module-api.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import { StanzaError, errorReply } from '../stanza/stanza-error.ts';
import type { UserStore } from '../storage/user-store.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { streamError } from '../stream/stream-error.ts';
import { xml, type Element } from '../xml.ts';

/** Turns a password into stored SCRAM credentials; throws on a password SASLprep refuses. */
export type DeriveCredentials = (password: string) => ScramCredential[];

export interface RegisterModuleDeps {
  readonly enabled: boolean;
  readonly users: Pick<UserStore, 'setCredentials' | 'delete'>;
  readonly sessions: Pick<SessionRegistry<C2SSession>, 'resourcesOf'>;
  readonly deriveCredentials: DeriveCredentials;
}

/** A requested change, read from <query xmlns='jabber:iq:register'/>. */
export type RegisterRequest =
  | { readonly kind: 'remove' }
  | { readonly kind: 'password'; readonly username: string | undefined; readonly password: string }
  | { readonly kind: 'invalid'; readonly error: StanzaError };

export function parseRegisterSet(query: Element): RegisterRequest {
  if (query.getChild('remove')) return { kind: 'remove' };
  const password = query.getChildText('password');
  if (password === null || password === '') {
    // §3.1 / §3.3: missing required data is <not-acceptable/>.
    return { kind: 'invalid', error: new StanzaError('modify', 'not-acceptable', 'A <password/> is required') };
  }
  const username = query.getChildText('username');
  return { kind: 'password', username: username === null ? undefined : username, password };
}

function credentialsFor(derive: DeriveCredentials, password: string): ScramCredential[] {
  try {
    return derive(password);
  } catch {
    throw new StanzaError('modify', 'not-acceptable', 'The password contains characters that are not allowed');
  }
}

export function registerModule(deps: RegisterModuleDeps): WardenModule {
  return {
    name: 'register',
    load(ctx: ModuleContext) {
      if (!deps.enabled) return;
      ctx.addFeature(NS.register);
      // The stream feature says in-band registration is supported; it is offered after
      // authentication only, until the stream core can offer it (and serve it) before.
      ctx.addStreamFeature(() => xml('register', { xmlns: NS.registerFeature }));

      const ownOnly = ({ from, to }: IqRequest) => {
        if (to.local !== '' && to.local !== from.local) throw new StanzaError('auth', 'forbidden', 'Only your own registration');
      };

      // §3.1: an entity already registered gets <registered/> and its username.
      const get = (req: IqRequest) => {
        ownOnly(req);
        return xml('query', { xmlns: NS.register }, xml('registered'), xml('username', {}, req.from.local));
      };

      const set = async (req: IqRequest) => {
        ownOnly(req);
        const local = req.from.local;
        const request = parseRegisterSet(req.payload);
        switch (request.kind) {
          case 'invalid':
            throw request.error;
          case 'remove': {
            // §3.2: the account goes; every session of it is closed once the result is out.
            if (!(await deps.users.delete(local))) throw new StanzaError('cancel', 'item-not-found');
            ctx.emit('user-deleted', { local });
            setImmediate(() => {
              for (const s of [...deps.sessions.resourcesOf(local)]) s.fail(streamError('not-authorized', 'Account removed'));
            });
            ctx.log.info('account removed by its user', { user: local });
            return;
          }
          case 'password': {
            // §3.3: the username, when given, is the user's own.
            if (request.username !== undefined && normalizeLocalpart(request.username) !== local) {
              throw new StanzaError('modify', 'bad-request', 'The username must be your own');
            }
            const credentials = credentialsFor(deps.deriveCredentials, request.password);
            if (!(await deps.users.setCredentials(local, credentials))) throw new StanzaError('cancel', 'item-not-found');
            ctx.log.info('password changed by its user', { user: local });
            return;
          }
        }
      };

      // Clients address these to the server (§3.3 examples) or send them without 'to'.
      for (const target of ['host', 'account'] as const) {
        ctx.handleIq('get', NS.register, target, get);
        ctx.handleIq('set', NS.register, target, set);
      }
    },
  };
}

export interface PreAuthRegistrationDeps {
  readonly users: Pick<UserStore, 'create'>;
  readonly deriveCredentials: DeriveCredentials;
}

/**
 * §3.1 account creation on a not-yet-authenticated stream: answers one jabber:iq:register iq
 * (get: the form; set: create) with the reply to send. For the stream core to call, only when
 * REGISTRATION_ENABLED and only where SASL would be allowed (TLS); see the report on wiring it.
 */
export function preAuthRegistration(deps: PreAuthRegistrationDeps): (iq: Element) => Promise<Element> {
  const reply = (iq: Element, payload?: Element) => {
    const attrs: Record<string, string> = { type: 'result' };
    if (iq.attrs.id !== undefined) attrs.id = String(iq.attrs.id);
    return payload ? xml('iq', attrs, payload) : xml('iq', attrs);
  };
  const fail = (iq: Element, error: StanzaError) => {
    const r = errorReply(iq, error, true);
    delete r.attrs.to;
    delete r.attrs.from;
    return r;
  };
  return async (iq) => {
    const query = iq.getChild('query', NS.register);
    if (!query || (iq.attrs.type !== 'get' && iq.attrs.type !== 'set')) {
      return fail(iq, new StanzaError('modify', 'bad-request', 'Expected a jabber:iq:register get or set'));
    }
    if (iq.attrs.type === 'get') {
      // §3.1: the fields to fill in.
      return reply(iq, xml('query', { xmlns: NS.register }, xml('instructions', {}, 'Choose a username and password.'), xml('username'), xml('password')));
    }
    const request = parseRegisterSet(query);
    if (request.kind === 'invalid') return fail(iq, request.error);
    if (request.kind === 'remove') return fail(iq, new StanzaError('auth', 'not-authorized', 'Log in to remove an account'));
    const username = request.username === undefined ? undefined : normalizeLocalpart(request.username);
    if (username === undefined) return fail(iq, new StanzaError('modify', 'not-acceptable', 'A valid <username/> is required'));
    let credentials: ScramCredential[];
    try {
      credentials = credentialsFor(deps.deriveCredentials, request.password);
    } catch (err) {
      return fail(iq, err as StanzaError);
    }
    // §3.1: a taken username is <conflict/>.
    if (!(await deps.users.create(username, credentials))) return fail(iq, new StanzaError('cancel', 'conflict', 'That username is taken'));
    return reply(iq);
  };
}
