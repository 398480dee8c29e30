// Prints the README's configuration table from the option declarations in src/config.ts, or
// with --write replaces it in README.md. `npm run config-table -- --write` after adding an option.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OPTIONS } from '../src/config.ts';

const table = [
  '| Variable | Default | Meaning |',
  '|---|---|---|',
  ...OPTIONS.map((o) => `| \`${o.env}\` | ${o.default === undefined ? '(unset)' : `\`${o.default}\``} | ${o.doc} |`),
].join('\n');

if (process.argv.includes('--write')) {
  const readme = path.join(import.meta.dirname, '..', 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- config-table:start -->\n';
  const end = '<!-- config-table:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md has no config-table markers');
  writeFileSync(readme, text.slice(0, i + start.length) + table + '\n' + text.slice(j));
} else {
  console.log(table);
}
