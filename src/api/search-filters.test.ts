// Dates given to the API are real instants however they arrive: through a route's date-time
// schema or straight to the parser.
import { describe, expect, it } from 'vitest';
import { ApiProblem } from './errors.ts';
import { instantParam, parseTimeRange } from './search-filters.ts';

const problemOf = (fn: () => unknown): ApiProblem => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiProblem) return err;
    throw err;
  }
  throw new Error('no problem thrown');
};

describe('parseTimeRange', () => {
  it('reads a range of real instants, offsets included', () => {
    expect(parseTimeRange({ since: '2026-02-28T23:00:00-01:00', until: '2026-03-01T00:00:01Z' })).toEqual({
      since: new Date('2026-03-01T00:00:00Z'),
      until: new Date('2026-03-01T00:00:01Z'),
    });
    expect(parseTimeRange({})).toEqual({ since: undefined, until: undefined });
  });

  it.each([
    ['since', '2026-02-30T00:00:00Z'],
    ['until', '2016-12-31T23:59:60Z'],
    ['since', '2026-13-01T00:00:00Z'],
    ['until', '0000-06-01T00:00:00Z'],
    ['since', '2026-03-01'],
    ['until', 'yesterday'],
  ])('refuses %s=%s with a 400 naming it (new Date() read 30 February as 2 March)', (field, text) => {
    const problem = problemOf(() => parseTimeRange({ [field]: text }));
    expect(problem.status).toBe(400);
    expect(problem.message.startsWith(`${field}: `)).toBe(true);
  });

  it('refuses since not before until', () => {
    expect(problemOf(() => parseTimeRange({ since: '2026-03-01T00:00:00Z', until: '2026-03-01T00:00:00Z' })).status).toBe(400);
  });
});

describe('instantParam', () => {
  it('is undefined for an absent field and names a bad one', () => {
    expect(instantParam('expiresAt', undefined)).toBeUndefined();
    expect(instantParam('expiresAt', '2028-02-29T00:00:00Z')).toEqual(new Date('2028-02-29T00:00:00Z'));
    expect(problemOf(() => instantParam('expiresAt', '2027-02-29T00:00:00Z')).message).toMatch(/^expiresAt: /);
  });
});
