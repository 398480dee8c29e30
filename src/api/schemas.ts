// JSON schemas shared by several admin API resources.

/** One rule match in a message (RuleMatch): offsets are UTF-16 code units of the original text. */
export const matchSchema = {
  type: 'object',
  required: ['ruleId', 'ruleName', 'action', 'severity', 'start', 'end', 'match'],
  properties: {
    ruleId: { type: 'string' },
    ruleName: { type: 'string' },
    action: { type: 'string' },
    severity: { type: 'string' },
    start: { type: 'integer' },
    end: { type: 'integer' },
    match: { type: 'string' },
  },
} as const;
