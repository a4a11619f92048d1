/** Session history: cost of an append at message 10 vs message 10,000, and resume of a 10,000-message session vs a readFile. */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { JsonlSessionStore, type StoredMessage } from '../src/agent/sessions.ts';
import type { Bench } from './table.ts';

const silent = pino({ level: 'silent' });

function message(i: number): StoredMessage {
  return { role: i % 2 === 0 ? 'user' : 'assistant', content: `message ${i}: ${'lorem ipsum dolor sit amet '.repeat(4)}`, ts: Date.now() };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export const run: Bench = async ({ quick }) => {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-bench-sessions-'));
  const store = new JsonlSessionStore(dir, () => 40, silent);
  const big = 10_000;
  for (let i = 0; i < big; i += 100) await store.appendTurn('long', Array.from({ length: 100 }, (_, k) => message(i + k)));
  const samples = quick ? 200 : 1000;
  // one session per sample holding 9 messages, so each timed short append really is message 10
  for (let s = 0; s < samples; s++) await store.appendTurn(`short${s}`, Array.from({ length: 9 }, (_, i) => message(i)));

  // alternate the two so machine noise hits both alike
  const short: number[] = [];
  const long: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t = performance.now();
    await store.appendTurn(`short${i}`, [message(9)]);
    short.push(performance.now() - t);
    t = performance.now();
    await store.appendTurn('long', [message(big + i)]);
    long.push(performance.now() - t);
  }
  const appendRatio = median(long) / median(short);

  const fresh = () => new JsonlSessionStore(dir, () => 40, silent);
  const resume: number[] = [];
  const read: number[] = [];
  for (let i = 0; i < (quick ? 10 : 30); i++) {
    let t = performance.now();
    await readFile(store.fileOf('long'), 'utf8');
    read.push(performance.now() - t);
    t = performance.now();
    await fresh().load('long');
    resume.push(performance.now() - t);
  }
  const resumeRatio = median(resume) / median(read);
  rmSync(dir, { recursive: true, force: true });
  return [
    { figure: 'history append at message 10,000', value: median(long) * 1000, unit: 'µs', baseline: { label: 'append at message 10', value: median(short) * 1000 }, ratio: appendRatio, target: '<= 1.5x', pass: appendRatio <= 1.5 },
    { figure: 'resume a 10,000-message session', value: median(resume), unit: 'ms', baseline: { label: 'readFile of the same bytes', value: median(read) }, ratio: resumeRatio, target: '<= 3x', pass: resumeRatio <= 3 },
  ];
};
