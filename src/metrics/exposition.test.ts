// The Prometheus text format as a scraper parses it: escaping, number spelling, histogram lines.
import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, formatValue, renderFamilies } from './exposition.ts';
import { Histogram, exponentialBuckets } from './histogram.ts';

describe('formatValue', () => {
  it.each([
    [0, '0'],
    [42, '42'],
    [0.25, '0.25'],
    [1e-7, '1e-7'],
    [Infinity, '+Inf'],
    [-Infinity, '-Inf'],
    [NaN, 'NaN'],
  ])('%s → %s', (value, text) => expect(formatValue(value)).toBe(text));
});

describe('escaping', () => {
  it.each([
    ['plain', 'plain', 'plain'],
    ['back\\slash', 'back\\\\slash', 'back\\\\slash'],
    ['two\nlines', 'two\\nlines', 'two\\nlines'],
    ['say "hi"', 'say "hi"', 'say \\"hi\\"'],
  ])('%j → help %j, label %j', (raw, help, label) => {
    expect(escapeHelp(raw)).toBe(help);
    expect(escapeLabelValue(raw)).toBe(label);
  });
});

describe('Histogram', () => {
  it('puts a value equal to a bound in that bound\'s bucket (le is inclusive), larger ones and NaN in +Inf', () => {
    const h = new Histogram([1, 5, 10]);
    for (const v of [0, 1, 1.0001, 5, 10, 11, NaN]) h.observe(v);
    expect([...h.counts]).toEqual([2, 2, 1, 2]);
    expect(h.cumulative()).toEqual([2, 4, 5, 7]);
    expect(h.count).toBe(7);
  });

  it('refuses bounds that do not ascend or are not finite', () => {
    expect(() => new Histogram([1, 1])).toThrow(/ascend/);
    expect(() => new Histogram([2, 1])).toThrow(/ascend/);
    expect(() => new Histogram([1, Infinity])).toThrow(/finite/);
  });

  it('exponentialBuckets multiplies from the start', () => {
    expect(exponentialBuckets(0.001, 2, 4)).toEqual([0.001, 0.002, 0.004, 0.008]);
  });
});

describe('renderFamilies', () => {
  it('writes HELP, TYPE and one line per sample, labels escaped', () => {
    const text = renderFamilies([
      { type: 'counter', name: 'x_total', help: 'Things\nseen.', samples: [{ labels: { kind: 'a"b' }, value: 3 }, { value: 1 }] },
      { type: 'gauge', name: 'y', help: 'Now.', samples: [{ labels: { a: '1', b: '2' }, value: 0.5 }] },
    ]);
    expect(text).toBe(
      '# HELP x_total Things\\nseen.\n# TYPE x_total counter\nx_total{kind="a\\"b"} 3\nx_total 1\n' +
        '# HELP y Now.\n# TYPE y gauge\ny{a="1",b="2"} 0.5\n',
    );
  });

  it('writes a histogram as cumulative _bucket lines ending in +Inf, then _sum and _count', () => {
    const h = new Histogram([0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(3);
    const text = renderFamilies([{ type: 'histogram', name: 'lat_seconds', help: 'Latency.', series: [{ labels: { q: 'a' }, histogram: h }] }]);
    expect(text).toBe(
      '# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n' +
        'lat_seconds_bucket{q="a",le="0.1"} 1\nlat_seconds_bucket{q="a",le="1"} 2\nlat_seconds_bucket{q="a",le="+Inf"} 3\n' +
        'lat_seconds_sum{q="a"} 3.55\nlat_seconds_count{q="a"} 3\n',
    );
  });

  it.each([
    ['a metric name with a dash', { type: 'gauge' as const, name: 'bad-name', help: '', samples: [] }, /invalid metric name/],
    ['a reserved label name', { type: 'gauge' as const, name: 'g', help: '', samples: [{ labels: { __x: '1' }, value: 1 }] }, /invalid label name/],
    ['a label name with a dot', { type: 'gauge' as const, name: 'g', help: '', samples: [{ labels: { 'a.b': '1' }, value: 1 }] }, /invalid label name/],
  ])('refuses %s', (_what, family, error) => {
    expect(() => renderFamilies([family])).toThrow(error);
  });

  it('refuses the same family twice (the format allows one block per name)', () => {
    const g = { type: 'gauge' as const, name: 'g', help: '', samples: [] };
    expect(() => renderFamilies([g, g])).toThrow(/twice/);
  });
});
