import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from '../../log.ts';

const snowflake = z.string().regex(/^\d{1,20}$/);
/** `guilds`: each channel's guild (null: a DM), which decides the shard that catches it up; absent in files from before sharding. */
const cursorFile = z.strictObject({ version: z.literal(1), channels: z.record(snowflake, snowflake), guilds: z.record(snowflake, snowflake.nullable()).optional() });

/** Advances are written this long after the first one: a stale cursor only costs a refetch the journal deduplicates. */
const FLUSH_DELAY_MS = 1_000;

/**
 * The last message handled in each Discord channel (DM, channel, thread) the bot served, kept in
 * the workspace (`.mybot/discord-cursors.json`), so a new gateway session can fetch what it missed.
 * Everything up to and including a cursor is handled: journaled, or not addressed to the bot.
 */
export class CursorStore {
  private readonly cursors = new Map<string, string>();
  private readonly guilds = new Map<string, string | null>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.load();
  }

  /** Served channels and their cursors. */
  entries(): Array<[channelId: string, lastId: string]> {
    return [...this.cursors];
  }

  has(channelId: string): boolean {
    return this.cursors.has(channelId);
  }

  /** The guild of a served channel, null for a DM; undefined when not known (a cursor saved before guilds were kept). */
  guildOf(channelId: string): string | null | undefined {
    return this.guilds.get(channelId);
  }

  /**
   * Starts serving a channel at `messageId`, the first message handled there, which itself stays
   * to be fetched until `advance` passes it. Written at once: a crash right after must not forget
   * the channel, or what comes while the daemon is down could not be found. `guildId` (null: a DM)
   * is kept with it, and added to a channel served before guilds were kept.
   */
  open(channelId: string, messageId: string, guildId: string | null): void {
    if (this.cursors.has(channelId) && this.guilds.has(channelId)) return;
    if (!this.cursors.has(channelId)) this.cursors.set(channelId, (BigInt(messageId) - 1n).toString());
    this.guilds.set(channelId, guildId);
    this.flush();
  }

  /** Moves a served channel's cursor forward (never back: handling finishes out of order). */
  advance(channelId: string, messageId: string): void {
    const current = this.cursors.get(channelId);
    if (current === undefined || BigInt(messageId) <= BigInt(current)) return;
    this.cursors.set(channelId, messageId);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS).unref();
  }

  /** Stops serving a channel (deleted, or the bot lost access to it). */
  forget(channelId: string): void {
    this.guilds.delete(channelId);
    if (this.cursors.delete(channelId)) this.flush();
  }

  /** Writes the cursors now (temp file, then rename, so a crash leaves the old file or the new one). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ version: 1, channels: Object.fromEntries(this.cursors), guilds: Object.fromEntries(this.guilds) }), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      this.log.warn({ err, file: this.file }, 'could not save the Discord catch-up cursors; messages sent while the daemon is down may be fetched again (and deduplicated)');
    }
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: this.file }, 'could not read the Discord catch-up cursors; starting without');
      return;
    }
    try {
      const saved = cursorFile.parse(JSON.parse(text));
      for (const [channelId, lastId] of Object.entries(saved.channels)) this.cursors.set(channelId, lastId);
      for (const [channelId, guildId] of Object.entries(saved.guilds ?? {})) if (this.cursors.has(channelId)) this.guilds.set(channelId, guildId);
    } catch {
      this.log.warn({ file: this.file }, 'the Discord catch-up cursors file is damaged; starting without (messages sent while the daemon was down are not fetched this time)');
    }
  }
}
