import { describe, expect, it } from 'vitest';
import { formatBytes } from './body-limit.ts';
import { databaseProblem, toProblem } from './errors.ts';

describe('databaseProblem', () => {
  it.each(['22003', '22P02', '22007', '22021'])('answers data exception %s with 400', (code) => {
    expect(databaseProblem(code)?.status).toBe(400);
  });

  it.each(['ECONNREFUSED', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '08006', '57P01', '57P03', '53300'])(
    'answers an unreachable database (%s) with 503 and Retry-After',
    (code) => {
      const problem = databaseProblem(code);
      expect(problem?.status).toBe(503);
      expect(Number(problem?.headers['retry-after'])).toBeGreaterThan(0);
    },
  );

  it.each(['23505', '42P01', '40001', undefined, 7])('leaves %s to the caller', (code) => {
    expect(databaseProblem(code)).toBeUndefined();
  });
});

describe('toProblem', () => {
  it('keeps a bug a 500 that hides its message', () => {
    const { problem, internal } = toProblem(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' }), 'req-1');
    expect(problem.status).toBe(500);
    expect(internal).toBe(true);
    expect(problem.message).not.toContain('relation');
  });

  it('turns a database connection loss into a 503 the operator still hears of', () => {
    const { problem, internal } = toProblem(Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }));
    expect(problem.status).toBe(503);
    expect(internal).toBe(true);
  });

  it('names the unknown property of a validation error', () => {
    const err = Object.assign(new Error('querystring must NOT have additional properties'), {
      statusCode: 400,
      validation: [{ keyword: 'additionalProperties', params: { additionalProperty: 'usr' } }],
      validationContext: 'querystring',
    });
    const { problem } = toProblem(err);
    expect(problem.status).toBe(400);
    expect(problem.message).toContain('"usr"');
  });

  it('names the body limit that applied to a 413, and keeps a fixed text without one', () => {
    const tooLarge = () => Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(toProblem(tooLarge(), 'r', { bodyLimit: 2 * 1024 * 1024 }).problem.message).toBe('The request body is larger than this route accepts (2 MiB).');
    expect(toProblem(tooLarge(), 'r', { bodyLimit: 64 * 1024 }).problem.message).toBe('The request body is larger than this route accepts (64 KiB).');
    expect(toProblem(tooLarge()).problem).toMatchObject({ status: 413, message: 'The request body is too large.' });
  });
});

describe('formatBytes', () => {
  it.each([
    [65536, '64 KiB'],
    [2097152, '2 MiB'],
    [1536, '1536 bytes'],
    [1000, '1000 bytes'],
    [0, '0 bytes'],
  ])('%d is %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));
});
