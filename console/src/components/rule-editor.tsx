// Create or change one audit rule (admin). Each save is a new policy version, live when the
// request returns; the server names every invalid field, and they are shown as they come.
import { useState } from 'preact/hooks';
import { del, post, problemFrom, put } from '../api.ts';
import { DETECTORS, SEVERITIES, type Problem, type Rule, type RuleAction, type RuleType, type Severity } from '../types.ts';
import { ConfirmDialog } from './modal.tsx';
import { ProblemBox } from './problem.tsx';

const ACTIONS: readonly RuleAction[] = ['flag', 'redact', 'hold', 'block'];
const DIRECTIONS = ['internal', 'outbound', 'inbound'] as const;

interface Draft {
  name: string;
  type: RuleType;
  keywords: string;
  pattern: string;
  flags: string;
  detector: string;
  action: RuleAction;
  severity: Severity;
  enabled: boolean;
  users: string;
  groups: string;
  directions: string[];
  /** Message types in scope: not editable here, kept as they are (a save must not drop them). */
  types: readonly string[];
}

const lines = (text: string) =>
  text
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const list = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

function draftOf(rule: Rule | null): Draft {
  return {
    name: rule?.name ?? '',
    type: rule?.type ?? 'keywords',
    keywords: (rule?.keywords ?? []).join('\n'),
    pattern: rule?.pattern ?? '',
    flags: rule?.flags ?? '',
    detector: rule?.detector ?? DETECTORS[0],
    action: rule?.action ?? 'flag',
    severity: rule?.severity ?? 'medium',
    enabled: rule?.enabled ?? true,
    users: (rule?.scope.users ?? []).join(', '),
    groups: (rule?.scope.groups ?? []).join(', '),
    directions: [...(rule?.scope.directions ?? [])],
    types: rule?.scope.types ?? [],
  };
}

/** The rule body the API takes (README "A rule"). */
function bodyOf(d: Draft): Record<string, unknown> {
  const scope: Record<string, unknown> = {};
  if (list(d.users).length) scope.users = list(d.users);
  if (list(d.groups).length) scope.groups = list(d.groups);
  if (d.directions.length) scope.directions = d.directions;
  if (d.types.length) scope.types = d.types;
  const body: Record<string, unknown> = { name: d.name.trim(), type: d.type, action: d.action, severity: d.severity, enabled: d.enabled, scope };
  // One keyword per line: a keyword may itself hold a comma.
  if (d.type === 'keywords') body.keywords = lines(d.keywords);
  if (d.type === 'regex') {
    body.pattern = d.pattern;
    if (d.flags) body.flags = d.flags;
  }
  if (d.type === 'detector') body.detector = d.detector;
  return body;
}

export function RuleEditor({ rule, onSaved, onCancel }: { rule: Rule | null; onSaved: () => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(rule));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => setDraft({ ...draft, [key]: value });

  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
      onSaved();
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };
  const save = (event: Event) => {
    event.preventDefault();
    void run(() => (rule ? put(`/rules/${encodeURIComponent(rule.id)}`, bodyOf(draft)) : post('/rules', bodyOf(draft))));
  };
  const [confirmDelete, setConfirmDelete] = useState(false);
  const remove = () => {
    setConfirmDelete(false);
    if (rule) void run(() => del(`/rules/${encodeURIComponent(rule.id)}`));
  };

  return (
    <form class="rule-editor card" onSubmit={save}>
      <h2>{rule ? `Edit rule: ${rule.name}` : 'New rule'}</h2>
      <ProblemBox problem={problem} />
      <div class="form-grid">
        <label>
          Name
          <input name="name" required value={draft.name} onInput={(e) => set('name', e.currentTarget.value)} />
        </label>
        <label>
          Type
          <select name="type" value={draft.type} onChange={(e) => set('type', e.currentTarget.value as RuleType)}>
            <option value="keywords">keywords</option>
            <option value="regex">regular expression (RE2)</option>
            <option value="detector">detector</option>
          </select>
        </label>
        {draft.type === 'keywords' && (
          <label class="wide">
            Keywords, one per line (Chinese or English; matched after normalisation)
            <textarea name="keywords" rows={4} value={draft.keywords} onInput={(e) => set('keywords', e.currentTarget.value)} />
          </label>
        )}
        {draft.type === 'regex' && (
          <>
            <label class="wide">
              Pattern
              <input name="pattern" class="mono" value={draft.pattern} onInput={(e) => set('pattern', e.currentTarget.value)} />
            </label>
            <label>
              Flags
              <input name="flags" class="mono" placeholder="i" value={draft.flags} onInput={(e) => set('flags', e.currentTarget.value)} />
            </label>
          </>
        )}
        {draft.type === 'detector' && (
          <label>
            Detector
            <select name="detector" value={draft.detector} onChange={(e) => set('detector', e.currentTarget.value)}>
              {DETECTORS.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Action
          <select name="action" value={draft.action} onChange={(e) => set('action', e.currentTarget.value as RuleAction)}>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Severity
          <select name="severity" value={draft.severity} onChange={(e) => set('severity', e.currentTarget.value as Severity)}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" name="enabled" checked={draft.enabled} onChange={(e) => set('enabled', e.currentTarget.checked)} /> Enabled
        </label>
        <label>
          Only these users (comma-separated; empty: everyone)
          <input name="users" value={draft.users} onInput={(e) => set('users', e.currentTarget.value)} />
        </label>
        <label>
          Only these groups
          <input name="groups" value={draft.groups} onInput={(e) => set('groups', e.currentTarget.value)} />
        </label>
        <fieldset class="directions">
          <legend>Directions (none checked: all)</legend>
          {DIRECTIONS.map((d) => (
            <label key={d} class="check">
              <input
                type="checkbox"
                checked={draft.directions.includes(d)}
                onChange={(e) => set('directions', e.currentTarget.checked ? [...draft.directions, d] : draft.directions.filter((x) => x !== d))}
              />{' '}
              {d}
            </label>
          ))}
        </fieldset>
      </div>
      <div class="button-row">
        <button type="submit" class="primary" disabled={busy}>
          {rule ? 'Save (new policy version)' : 'Create rule'}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        {rule && (
          <button type="button" class="danger" onClick={() => setConfirmDelete(true)} disabled={busy}>
            Delete…
          </button>
        )}
      </div>
      {draft.types.length > 0 && <p class="muted small">Only message types: {draft.types.join(', ')} (kept as they are; change them through the API).</p>}
      {rule && confirmDelete && (
        <ConfirmDialog title={`Delete the rule “${rule.name}”?`} confirmLabel="Delete rule" danger onConfirm={remove} onCancel={() => setConfirmDelete(false)}>
          <p>It stops matching at once (a new policy version). Messages already archived keep their verdicts.</p>
        </ConfirmDialog>
      )}
    </form>
  );
}
