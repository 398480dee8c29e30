// Rules: the live policy's rules with (for officers) how often each fired and how often it was a
// false positive; the dry-run box; and for administrators the editor.
import { useEffect, useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { SeverityBadge } from '../components/badges.tsx';
import { DryRunBox } from '../components/dry-run.tsx';
import { ProblemBox } from '../components/problem.tsx';
import { RuleEditor } from '../components/rule-editor.tsx';
import { formatTime } from '../format.ts';
import type { Me, Problem, Rule, RuleStats } from '../types.ts';

interface RulesAnswer {
  readonly items: readonly Rule[];
  readonly policyVersion: number;
}

function whatItMatches(rule: Rule): string {
  if (rule.type === 'keywords') {
    const kw = rule.keywords ?? [];
    return kw.slice(0, 6).join(', ') + (kw.length > 6 ? ` … (+${kw.length - 6})` : '');
  }
  if (rule.type === 'regex') return `/${rule.pattern ?? ''}/${rule.flags ?? ''}`;
  return `detector: ${rule.detector ?? ''}`;
}

const percent = (rate: number | null) => (rate === null ? '–' : `${Math.round(rate * 100)}%`);

export function RulesPage({ me }: { me: Me }) {
  const [rules, setRules] = useState<RulesAnswer | null>(null);
  const [stats, setStats] = useState<ReadonlyMap<string, RuleStats>>(new Map());
  const [problem, setProblem] = useState<Problem | null>(null);
  const [editing, setEditing] = useState<Rule | 'new' | null>(null);
  const [generation, setGeneration] = useState(0);
  const isAdmin = me.role === 'admin';
  const isOfficer = me.role === 'officer';

  useEffect(() => {
    get<RulesAnswer>('/rules')
      .then(setRules)
      .catch((err: unknown) => setProblem(problemFrom(err)));
    // Outcome statistics are officers' (they come from their review decisions).
    if (isOfficer) {
      get<{ items: readonly RuleStats[] }>('/rules/stats')
        .then((s) => setStats(new Map(s.items.map((r) => [r.ruleId, r]))))
        .catch(() => setStats(new Map()));
    }
  }, [generation, isOfficer]);

  return (
    <section class="rules">
      <header class="page-head">
        <h1>Rules</h1>
        {rules && <span class="muted">live policy version {rules.policyVersion}</span>}
        {isAdmin && editing === null && (
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            New rule
          </button>
        )}
      </header>
      <div class="rules-layout">
        <div class="rules-main">
          <ProblemBox problem={problem} />
          {editing !== null && (
            <RuleEditor
              key={editing === 'new' ? 'new' : editing.id}
              rule={editing === 'new' ? null : editing}
              onCancel={() => setEditing(null)}
              onSaved={() => {
                setEditing(null);
                setGeneration((g) => g + 1);
              }}
            />
          )}
          {rules && rules.items.length === 0 && <p class="empty">No rules yet: every message is allowed.</p>}
          {rules && rules.items.length > 0 && (
            <div class="table-scroll">
              <table class="grid rules-table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Matches</th>
                    <th>Action</th>
                    <th>Severity</th>
                    <th>On</th>
                    {isOfficer && (
                      <>
                        <th class="num">Hits</th>
                        <th class="num">Open</th>
                        <th class="num" title="Share of resolved incidents marked false positive">FP rate</th>
                      </>
                    )}
                    <th>Changed</th>
                  </tr>
                </thead>
                <tbody>
                  {rules.items.map((rule) => {
                    const s = stats.get(rule.id);
                    return (
                      <tr key={rule.id} class={isAdmin ? 'clickable' : ''} onClick={isAdmin ? () => setEditing(rule) : undefined}>
                        <td>
                          {isAdmin ? (
                            <button
                              type="button"
                              class="link"
                              title="Edit this rule"
                              onClick={(e) => {
                                e.stopPropagation();
                                setEditing(rule);
                              }}
                            >
                              {rule.name}
                            </button>
                          ) : (
                            rule.name
                          )}
                        </td>
                        <td class="mono clip">{whatItMatches(rule)}</td>
                        <td>{rule.action}</td>
                        <td>
                          <SeverityBadge severity={rule.severity} />
                        </td>
                        <td>{rule.enabled ? 'yes' : 'no'}</td>
                        {isOfficer && (
                          <>
                            <td class="num">{s?.hits ?? 0}</td>
                            <td class="num">{s?.open ?? 0}</td>
                            <td class="num">{percent(s?.falsePositiveRate ?? null)}</td>
                          </>
                        )}
                        <td class="muted nowrap">{formatTime(rule.updatedAt)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </div>
        <aside class="rules-side">
          <DryRunBox {...(rules ? { policyVersionHint: rules.policyVersion } : {})} />
        </aside>
      </div>
    </section>
  );
}
