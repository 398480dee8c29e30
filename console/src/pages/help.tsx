// The keyboard help (press ?): a modal dialog, so the page's keys rest while it is open.
import { Modal } from '../components/modal.tsx';
import type { NavItem } from '../nav.ts';

const LIST_KEYS: readonly (readonly [string, string])[] = [
  ['j / ↓', 'next row'],
  ['k / ↑', 'previous row'],
  ['Enter / o', 'open the selected row'],
  ['r', 'refresh the list'],
  ['/', 'focus the search or filter box'],
];
const INCIDENT_KEYS: readonly (readonly [string, string])[] = [
  ['u / Esc', 'back to the queue'],
  ['j / k', 'next / previous incident'],
  ['a', 'assign to me (again: unassign)'],
  ['t / f / e', 'resolve as true positive / false positive / escalated'],
  ['c', 'write a comment'],
  ['v', 'open the conversation'],
];

const HOLD_KEYS: readonly (readonly [string, string])[] = [
  ['R', 'release the selected message (asks first)'],
  ['X', 'reject the selected message (asks first)'],
];
const LEGAL_HOLD_KEYS: readonly (readonly [string, string])[] = [
  ['n', 'place a new hold'],
  ['R', 'release the selected hold (asks why)'],
];
const EXPORT_KEYS: readonly (readonly [string, string])[] = [
  ['c', 'copy the selected export’s SHA-256 line'],
  ['m', 'copy its whole manifest'],
];
const CONVERSATION_KEYS: readonly (readonly [string, string])[] = [
  ['p', 'load earlier messages'],
  ['n', 'load later messages'],
];

export function HelpOverlay({ items, onClose }: { items: readonly NavItem[]; onClose: () => void }) {
  const hasPage = (path: string) => items.some((item) => item.path === path);
  const table = (rows: readonly (readonly [string, string])[]) => (
    <table class="keys">
      <tbody>
        {rows.map(([k, what]) => (
          <tr key={k}>
            <td>
              <kbd>{k}</kbd>
            </td>
            <td>{what}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose} class="help">
      <div class="help-columns">
        <div>
          <h3>Lists</h3>
          {table(LIST_KEYS)}
          <h3>Go to</h3>
          {table(items.map((item) => [`g ${item.key}`, item.label] as const))}
        </div>
        <div>
          {hasPage('/incidents') && (
            <>
              <h3>Incident</h3>
              {table(INCIDENT_KEYS)}
            </>
          )}
          {hasPage('/holds') && (
            <>
              <h3>Held messages</h3>
              {table(HOLD_KEYS)}
            </>
          )}
          {hasPage('/conversation') && (
            <>
              <h3>Conversation</h3>
              {table(CONVERSATION_KEYS)}
            </>
          )}
          {hasPage('/legal-holds') && (
            <>
              <h3>Legal holds</h3>
              {table(LEGAL_HOLD_KEYS)}
            </>
          )}
          {hasPage('/exports') && (
            <>
              <h3>Exports</h3>
              {table(EXPORT_KEYS)}
            </>
          )}
          <h3>Anywhere</h3>
          {table([['?', 'this help'], ['Esc', 'close it (or a dialog)'], ['Tab', 'move between links and buttons']])}
        </div>
      </div>
      <button type="button" onClick={onClose} data-autofocus>
        Close <kbd>Esc</kbd>
      </button>
    </Modal>
  );
}
