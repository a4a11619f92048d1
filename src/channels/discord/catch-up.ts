import type { Logger } from '../../log.ts';
import type { CursorStore } from './cursors.ts';

/** https://discord.com/developers/docs/reference#snowflakes: milliseconds since 2015 in the bits above 22. */
const DISCORD_EPOCH = 1_420_070_400_000n;
/** Discord's most per `GET /channels/{id}/messages`. */
const PAGE = 100;
/** Pages read per channel at most: 1,000 messages in the age window is more than a bot catches up on. */
const MAX_PAGES = 10;
/** Channels fetched side by side; discord.js queues them within Discord's rate limits. */
const PARALLEL = 4;

export interface CatchUpMessage {
  id: string;
  channelId: string;
}

export interface CatchUpOptions<M extends CatchUpMessage> {
  /** The served channels and the last message handled in each. */
  cursors: ReadonlyArray<readonly [channelId: string, lastId: string]>;
  /** `GET /channels/{id}/messages?after=&limit=`: up to `limit` messages after `afterId`, in any order. */
  fetchAfter: (channelId: string, afterId: string, limit: number) => Promise<M[]>;
  /** Whether the live path would act on it (answer, refuse, say text only). */
  isAddressed: (message: M) => boolean;
  /** At most this many addressed messages, the newest, are handed back. */
  max: number;
  /** Messages older than this are neither fetched nor handed back. */
  maxAgeS: number;
  now?: number;
}

export interface CatchUpResult<M extends CatchUpMessage> {
  /** Addressed messages to handle, oldest first. */
  messages: M[];
  /** Addressed messages left out by `max` (the oldest ones). */
  overMax: number;
  /** The newest message read per channel: everything up to it is handled once `messages` are. */
  newest: Map<string, string>;
  /** Channels that could not be read. */
  failed: Array<{ channelId: string; error: unknown }>;
}

export function snowflakeAt(ms: number): string {
  return ((BigInt(ms) - DISCORD_EPOCH) << 22n).toString();
}

export function compareSnowflakes(a: string, b: string): number {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/**
 * What a served channel received since its cursor and not older than `maxAgeS`, read oldest first
 * page by page (`after` pages forward from the anchor), keeping the messages addressed to the bot.
 */
export async function collectMissed<M extends CatchUpMessage>(options: CatchUpOptions<M>): Promise<CatchUpResult<M>> {
  const floor = snowflakeAt((options.now ?? Date.now()) - options.maxAgeS * 1000);
  const addressed: M[] = [];
  const newest = new Map<string, string>();
  const failed: CatchUpResult<M>['failed'] = [];
  const todo = [...options.cursors];
  const scan = async ([channelId, lastId]: readonly [string, string]): Promise<void> => {
    let after = compareSnowflakes(lastId, floor) > 0 ? lastId : floor;
    for (let page = 0; page < MAX_PAGES; page++) {
      const batch = (await options.fetchAfter(channelId, after, PAGE)).sort((a, b) => compareSnowflakes(a.id, b.id));
      addressed.push(...batch.filter(options.isAddressed));
      if (batch.length === 0) return;
      after = batch.at(-1)!.id;
      newest.set(channelId, after);
      if (batch.length < PAGE) return;
    }
  };
  const worker = async (): Promise<void> => {
    for (let next = todo.shift(); next; next = todo.shift()) {
      await scan(next).catch((error: unknown) => failed.push({ channelId: next![0], error }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  const messages = addressed.sort((a, b) => compareSnowflakes(a.id, b.id));
  const overMax = Math.max(0, messages.length - options.max);
  return { messages: messages.slice(overMax), overMax, newest, failed };
}

export interface CatchUpDeps<M extends CatchUpMessage> {
  cursors: CursorStore;
  limits: () => { max: number; maxAgeS: number };
  fetchAfter: CatchUpOptions<M>['fetchAfter'];
  isAddressed: CatchUpOptions<M>['isAddressed'];
  /** The live path: decides, journals, moves the cursor. */
  handle: (message: M) => Promise<void>;
  paused: () => boolean;
  /** Why a channel could not be read; not retryable means it is gone for the bot (deleted, access lost). */
  describeFailure: (channelId: string, error: unknown) => { message: string; retryable: boolean };
  log: Logger;
}

export interface CatchUpScope {
  /** The served channels this run is for (a shard's new session: the channels of its guilds); default all. */
  covers?: (channelId: string) => boolean;
  log?: Logger;
}

/**
 * A gateway session that starts anew (not RESUMED) replays nothing, so what the served channels
 * received meanwhile is fetched and handled oldest first through the live path, within
 * channels.discord.catch_up_max and catch_up_max_age_s. Live messages of those channels are held
 * meanwhile, so they do not overtake what was sent before them; the journal turns away any message
 * seen both ways (same event id). Runs for different channels (one per shard) go side by side; a
 * channel already being caught up is left to the run that has it.
 */
export class CatchUp<M extends CatchUpMessage> {
  private readonly runs = new Set<{ channels: Set<string>; messages: M[] }>();

  constructor(private readonly deps: CatchUpDeps<M>) {}

  /** A live message: handled now, or after the catch-up when its channel is being caught up. */
  live(message: M): void {
    for (const run of this.runs) {
      if (run.channels.has(message.channelId)) return void run.messages.push(message);
    }
    void this.deps.handle(message);
  }

  async run({ covers = () => true, log = this.deps.log }: CatchUpScope = {}): Promise<void> {
    const { cursors } = this.deps;
    const { max, maxAgeS } = this.deps.limits();
    const served = cursors.entries().filter(([channelId]) => covers(channelId) && !this.isHeld(channelId));
    if (this.deps.paused() || max === 0 || served.length === 0) return;
    const held = { channels: new Set(served.map(([channelId]) => channelId)), messages: [] as M[] };
    this.runs.add(held);
    try {
      const missed = await collectMissed<M>({ cursors: served, max, maxAgeS, fetchAfter: this.deps.fetchAfter, isAddressed: this.deps.isAddressed });
      log.info({ channels: served.length, missed: missed.messages.length }, 'caught up on messages sent while the gateway session was down');
      if (missed.overMax > 0) log.warn({ notAnswered: missed.overMax, catchUpMax: max }, 'more missed messages than channels.discord.catch_up_max; the oldest are not answered');
      for (const { channelId, error } of missed.failed) {
        const reason = this.deps.describeFailure(channelId, error);
        log.warn({ channelId, reason: reason.message }, 'could not catch up on a Discord channel');
        if (!reason.retryable) cursors.forget(channelId);
      }
      for (const message of missed.messages) {
        if (this.deps.paused()) return;
        await this.deps.handle(message);
      }
      for (const [channelId, lastId] of missed.newest) cursors.advance(channelId, lastId);
    } catch (err) {
      log.error({ err }, 'Discord catch-up failed; messages sent while the gateway session was down are not answered');
    } finally {
      // live messages that came meanwhile, in the order they came
      for (let message = held.messages.shift(); message; message = held.messages.shift()) {
        if (!this.deps.paused()) await this.deps.handle(message);
      }
      this.runs.delete(held);
    }
  }

  private isHeld(channelId: string): boolean {
    for (const run of this.runs) if (run.channels.has(channelId)) return true;
    return false;
  }
}
