/**
 * What `shared: true` (several processes on one workspace) costs the stores: the file lock, a
 * usage flush that merges with the file, a cached session load that checks the file first.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { UsageLimiter } from '../src/agent/limits.ts';
import { JsonlSessionStore, type StoredMessage } from '../src/agent/sessions.ts';
import { UsageStore } from '../src/agent/usage-store.ts';
import { configSchema } from '../src/config/schema.ts';
import { withFileLock } from '../src/core/file-lock.ts';
import type { Bench } from './table.ts';

const silent = pino({ level: 'silent' });
const USERS = 1000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median µs of `fn` over `n` runs, `before` (untimed) ahead of each. */
async function time(n: number, fn: () => unknown, before?: () => void): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    const t = performance.now();
    await fn();
    samples.push((performance.now() - t) * 1000);
  }
  return median(samples);
}

/** A limiter whose counters hold USERS users, as a busy day leaves them. */
function limiter(file: string, shared: boolean): UsageLimiter {
  const config = configSchema.parse({ llm: { model: 'm' } });
  const usage = new UsageLimiter(() => config, new UsageStore(file, silent, { shared }), silent);
  for (let u = 0; u < USERS; u++) usage.spent({ channel: 'telegram', chatId: String(u), userId: String(u), chatType: 'private' }, { promptTokens: 100, completionTokens: 10 }, 'm');
  return usage;
}

export const run: Bench = async ({ quick }) => {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-bench-shared-'));
  const n = quick ? 200 : 1000;
  try {
    const lock = await time(n, () => withFileLock(join(dir, 'lock-only'), () => undefined));

    const alice = { channel: 'telegram', chatId: '1', userId: '1', chatType: 'private' as const };
    const [alone, shared] = [limiter(join(dir, 'alone.json'), false), limiter(join(dir, 'shared.json'), true)];
    const flushAlone = await time(n / 4, () => (alone.admit(alice, false), alone.flush()));
    const flushShared = await time(n / 4, () => (shared.admit(alice, false), shared.flush()));
    // another process counts and writes between two flushes of this one: the flush parses and merges
    const other = limiter(join(dir, 'shared.json'), true);
    const flushMerging = await time(n / 4, () => (shared.admit(alice, false), shared.flush()), () => (other.admit(alice, false), other.flush()));

    const message = (i: number): StoredMessage => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: `message ${i}`, ts: i });
    const [plain, checked] = [false, true].map((shared) => {
      const sessions = join(dir, shared ? 'checked' : 'plain');
      mkdirSync(sessions);
      return new JsonlSessionStore(sessions, () => 40, silent, () => false, { shared });
    });
    for (const store of [plain!, checked!]) {
      await store.appendTurn('s', Array.from({ length: 40 }, (_, i) => message(i)));
      await store.load('s');
    }
    const loadPlain = await time(n, () => plain!.load('s'));
    const loadChecked = await time(n, () => checked!.load('s'));

    return [
      { figure: 'file lock, taken and released (no other holder)', value: lock, unit: 'µs', target: 'reference' },
      {
        figure: `usage flush, shared, file as this process left it (${USERS} users)`,
        value: flushShared,
        unit: 'µs',
        baseline: { label: 'not shared', value: flushAlone },
        ratio: flushShared / flushAlone,
        target: 'reference',
      },
      {
        figure: `usage flush, shared, after another process wrote (parse, merge; ${USERS} users)`,
        value: flushMerging,
        unit: 'µs',
        baseline: { label: 'not shared', value: flushAlone },
        ratio: flushMerging / flushAlone,
        target: 'reference',
      },
      { figure: 'cached session load, shared (one stat)', value: loadChecked, unit: 'µs', baseline: { label: 'not shared', value: loadPlain }, ratio: loadChecked / loadPlain, target: 'reference' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
