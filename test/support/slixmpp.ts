// Runs slixmpp (Debian's python3-slixmpp, with Debian's own /usr/bin/python3) as a child process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'slixmpp_client.py');

export interface SlixmppEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export function slixmppAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSyncOk();
}

function spawnSyncOk(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawnSync } = process.getBuiltinModule('node:child_process') as typeof import('node:child_process');
    return spawnSync(PYTHON, ['-c', 'import slixmpp'], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
}

export function runSlixmpp(scenario: Record<string, unknown>, timeoutMs = 40_000): Promise<SlixmppEvent[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, JSON.stringify(scenario)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const events = out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as SlixmppEvent);
      if (events.length === 0) reject(new Error(`slixmpp printed nothing; stderr:\n${err.slice(-2000)}`));
      else resolve(events);
    });
  });
}
