// One archived message in a list (search results): when, who, verdict, the body with rule
// matches and the search term marked.
import { bare, formatTime } from '../format.ts';
import { href } from '../router.ts';
import type { ArchivedMessage } from '../types.ts';
import { VerdictBadge } from './badges.tsx';
import { Highlighted, matchSpans, termSpans } from './highlight.tsx';

export const messageConversationHref = (m: ArchivedMessage) => href('/conversation', { a: bare(m.from), b: bare(m.to), around: m.id });

export function MessageBody({ message, term }: { message: ArchivedMessage; term?: string }) {
  if (message.body === null) return <span class="muted">(no body)</span>;
  const spans = [...matchSpans(message.matches), ...(term ? termSpans(message.body, term) : [])];
  return <Highlighted text={message.body} spans={spans} />;
}

export function MessageRow({ message, term, selected, onOpen }: { message: ArchivedMessage; term: string; selected: boolean; onOpen: () => void }) {
  return (
    <li class={`row message-row${selected ? ' selected' : ''}`} aria-selected={selected} data-message={message.id} onClick={onOpen}>
      <span class="cell when">{formatTime(message.ts)}</span>
      <span class="cell who">
        {bare(message.from)} <span class="arrow">→</span> {bare(message.to)}
      </span>
      <span class="cell verdict">{message.verdict !== 'allow' && <VerdictBadge verdict={message.verdict} />}</span>
      <span class="cell excerpt">
        <MessageBody message={message} term={term} />
      </span>
      <span class="cell link">
        <a href={messageConversationHref(message)} onClick={(e) => e.stopPropagation()}>
          Conversation
        </a>
      </span>
    </li>
  );
}
