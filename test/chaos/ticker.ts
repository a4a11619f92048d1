import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatWallTime } from '../../src/core/time-zone.ts';
import type { FakeClock } from '../helpers/fake-clock.ts';
import { waitFor } from '../helpers/wait.ts';
import type { Rng } from './rng.ts';
import type { ChaosTarget } from './target.ts';

/** The owner's job of the chaos world: every minute, in a Discord channel of its own. */
export const TICK_JOB = 'chaos-tick';
const MINUTE = 60_000;
const TICK = /\btick (\w{3} \d{4}-\d\d-\d\d \d\d:\d\d)\b/;
const DUE = /^\[Scheduled task file:chaos-tick, due (\w{3} \d{4}-\d\d-\d\d \d\d:\d\d) \(UTC\)\]/;

export interface TickScore {
  /** Due times the clock passed, each of which must be delivered once. */
  dues: number;
  delivered: number;
  lost: string[];
  duplicated: string[];
}

/** `schedules/chaos-tick.md` for the workspace. */
export function tickJobFile(channelId: string): string {
  return `---\ncron: "* * * * *"\ntimezone: UTC\nchat: discord:${channelId}\n---\nSay the tick.\n`;
}

/** The fake LLM's answer to a firing of the tick job, naming its due time; undefined for anything else. */
export function tickReply(userText: string): string | undefined {
  const due = DUE.exec(userText)?.[1];
  return due === undefined ? undefined : `tick ${due}`;
}

/**
 * Moves the daemons' fake clock one minute at a time while the chaos run goes on: to just past
 * the next due time of the tick job, then, once the bot accepted that firing (whichever process
 * journaled or published it), after a random pause, to the next. One due time at most is pending at any
 * moment, so none is ever superseded by a later one: each must reach the channel exactly once,
 * through the SIGKILLs and restarts in between.
 */
export class ChaosTicker {
  readonly dues: number[] = [];

  constructor(
    private readonly clock: FakeClock,
    private readonly rng: Rng,
  ) {}

  async run(target: Pick<ChaosTarget, 'workspace' | 'accepted'>, done: () => boolean, gapMs: [number, number], deadlineMs = 60_000): Promise<void> {
    // the job counts from when a daemon first saw the file: due times before that are not its own
    await waitFor(() => /"files":\{[^}]*"chaos-tick"/.test(readOr(join(target.workspace, '.mybot', 'schedules.json'))), deadlineMs, 'a daemon to see the tick job');
    for (;;) {
      const due = Math.floor(this.clock.now() / MINUTE) * MINUTE + MINUTE;
      this.clock.set(due + 1_000);
      this.dues.push(due);
      const id = `schedule:file:${TICK_JOB}:${new Date(due).toISOString()}`;
      await waitFor(async () => (await target.accepted([id])).size === 1, deadlineMs, `the tick due at ${new Date(due).toISOString()} to be accepted`);
      if (done()) return;
      await sleep(this.rng.int(...gapMs));
    }
  }

  /** How the tick channel's messages match the due times the clock passed. */
  score(texts: string[]): TickScore {
    const seen = new Map<string, number>();
    for (const text of texts) {
      const tag = TICK.exec(text)?.[1];
      if (tag) seen.set(tag, (seen.get(tag) ?? 0) + 1);
    }
    const tags = this.dues.map((due) => formatWallTime(due, 'UTC'));
    return {
      dues: tags.length,
      delivered: tags.filter((t) => (seen.get(t) ?? 0) >= 1).length,
      lost: tags.filter((t) => !seen.has(t)),
      duplicated: tags.filter((t) => (seen.get(t) ?? 0) > 1),
    };
  }

  /** Every due time passed has its answer in the channel. */
  settled(texts: string[]): boolean {
    return this.score(texts).lost.length === 0;
  }
}

function readOr(file: string): string {
  try {
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  } catch {
    return '';
  }
}
