/**
 * What memory adds to every turn: the system prompt is composed per asker (MEMORY.md for owners,
 * memory/<channel>-<user>.md for others, in private chats). Measured beside the prompt it is added
 * to (AGENT.md and the skills section, kept in memory between its once-a-second checks): a memory
 * file looked at within the second costs a map lookup and a string join; the first turn of a user in
 * a second costs a stat, and a read when the file changed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withMemory, MemoryFiles } from '../src/agent/memory.ts';
import { SystemPrompt } from '../src/agent/system-prompt.ts';
import type { Actor } from '../src/core/actor.ts';
import type { Bench } from './table.ts';

const FACTS = '## Preferences\n- vegetarian\n- answers in English, short\n\n## Work\n- writes TypeScript\n- on call on Mondays\n'.repeat(3);

function perCallUs(calls: number, fn: (i: number) => unknown): number {
  const started = performance.now();
  for (let i = 0; i < calls; i++) fn(i);
  return ((performance.now() - started) * 1000) / calls;
}

export const run: Bench = async ({ quick }) => {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-bench-memory-'));
  try {
    const users = quick ? 500 : 2000;
    writeFileSync(join(dir, 'AGENT.md'), 'You are mybot, a personal assistant.\n'.repeat(20));
    mkdirSync(join(dir, 'memory'));
    // half the users have a memory file
    for (let u = 0; u < users; u += 2) writeFileSync(join(dir, 'memory', `telegram-${u}.md`), FACTS);
    const actors: Actor[] = Array.from({ length: users }, (_, u) => ({ source: { channel: 'telegram', chatId: String(u), userId: String(u), chatType: 'private' }, sessionId: `telegram:${u}`, owner: false }));
    const prompt = new SystemPrompt(join(dir, 'AGENT.md'));
    const calls = quick ? 20_000 : 200_000;
    prompt.text();
    const baseline = perCallUs(calls, () => prompt.text());
    // a fresh MemoryFiles: every user's first turn looks at the disk
    const cold = new MemoryFiles(dir);
    const firstInSecond = perCallUs(users, (i) => withMemory(prompt.text(), cold, actors[i]!));
    const warm = perCallUs(calls, (i) => withMemory(prompt.text(), cold, actors[i % users]!));
    return [
      {
        figure: `system prompt with memory, per turn, a user seen within the second (${users} users)`,
        value: warm,
        unit: 'µs',
        baseline: { label: 'the prompt without memory', value: baseline },
        target: '<= 10 µs',
        pass: warm <= 10,
      },
      {
        figure: "system prompt with memory, a user's first turn in a second (a stat, and a read of the file)",
        value: firstInSecond,
        unit: 'µs',
        baseline: { label: 'the prompt without memory', value: baseline },
        target: '<= 100 µs',
        pass: firstInSecond <= 100,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
