/**
 * Added latency, measured the same way on every platform: the time from a user's message leaving
 * the fake platform to the reply reaching it, through the daemon, minus the fake platform's own
 * loopback round trip, measured in the same run the same way through a relay: a bare client in
 * another process that answers each message with one API call and does nothing else. The relay
 * pays what the daemon cannot avoid (two loopback hops, waking a second process on a shared CPU),
 * so the difference is what mybot adds: the platform library, journal, agent, LLM call, delivery.
 */
import { spawn } from 'node:child_process';
import { PROJECT_ROOT } from '../test/helpers/daemon.ts';
import { percentile, type BenchRow } from './table.ts';

export const TARGET_P50_MS = 3;
export const TARGET_P99_MS = 15;

export interface RoundTrips {
  count: number;
  /** Round trips before the measured ones (connections, JIT), not counted. */
  warmup: number;
  /** Start of one message to start of the next: keeps the rate under the platform's limits. */
  paceMs: number;
  /** Checked before each message, e.g. "the client is waiting for updates". */
  ready?: () => boolean;
  send: (i: number) => void;
  /** Resolves with the performance.now() at which the next answer reached the fake. */
  nextAnswer: () => Promise<number>;
  /** Checked after each answer, e.g. "the fake has answered every request". */
  settled?: () => boolean;
}

/** One message at a time: send, wait for its answer at the fake; returns the measured times in ms. */
export async function timeRoundTrips(o: RoundTrips): Promise<number[]> {
  const times: number[] = [];
  let nextAt = 0;
  for (let i = 0; i < o.warmup + o.count; i++) {
    await pace(nextAt - performance.now());
    if (o.ready) await until(o.ready);
    nextAt = performance.now() + o.paceMs;
    const answer = o.nextAnswer();
    const start = performance.now();
    o.send(i);
    const end = await answer;
    if (i >= o.warmup) times.push(end - start);
    if (o.settled) await until(o.settled);
  }
  return times;
}

/**
 * Runs `script` (an ES module, given `args`) as the relay while `measure` runs; resolves with
 * the median of the times `measure` returns. The script prints a line once it is connected.
 */
export async function relayRoundTrip(script: string, args: string[], measure: () => Promise<number[]>): Promise<number> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let connected = false;
    let exited = false;
    child.stdout.on('data', () => (connected = true));
    child.on('exit', () => (exited = true));
    await until(() => connected || exited);
    if (exited) throw new Error('the relay exited before it connected (its error is above)');
    return median(await measure());
  } finally {
    child.kill();
  }
}

/** p50 and p99 of the added latency: each sample minus the relay's median round trip. */
export function addedLatencyRows(what: string, samples: number[], roundTrip: number): BenchRow[] {
  const added = samples.map((s) => s - roundTrip).sort((a, b) => a - b);
  return [
    [50, TARGET_P50_MS],
    [99, TARGET_P99_MS],
  ].map(([p, target]) => {
    const value = percentile(added, p!);
    return {
      figure: `${what}, p${p} (${samples.length.toLocaleString('en')} msgs)`,
      value,
      unit: 'ms',
      baseline: { label: 'relay round trip', value: roundTrip },
      target: `p${p} <= ${target} ms`,
      pass: value <= target!,
    };
  });
}

function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Keeps the message rate under the platform's limits (a load setting, not a wait for a condition). */
function pace(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Waits for a condition by yielding to the event loop, not by sleeping a fixed time. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
