import { FakeDiscord, type FakeDiscordOptions, type FakeMessage } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { cleanUpAfterEach } from '../helpers/cleanup.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

export const MESSAGES_ROUTE = { method: 'POST', path: /^\/channels\/\d+\/messages$/ };

/** The real daemon wired to a fake Discord and a fake LLM, as a user would configure it. */
export class DiscordWorld {
  private constructor(
    readonly discord: FakeDiscord,
    readonly llm: FakeOpenAI,
  ) {}

  static async start(options: FakeDiscordOptions = {}): Promise<DiscordWorld> {
    return new DiscordWorld(await FakeDiscord.start({ heartbeatIntervalMs: 1_000, ...options }), await FakeOpenAI.start());
  }

  config(discord: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      llm: { api_base: this.llm.url, model: 'fake', max_retries: 0 },
      agent: { retry_backoff_ms: 10 },
      // open unless the test brings its own allowlist
      channels: { discord: { enabled: true, bot_token: this.discord.token, api_base: this.discord.apiBase, ...('allowed_user_ids' in discord ? {} : OPEN_ACCESS), ...discord } },
    };
  }

  /** The bot's messages that answer `message` (the first chunk quotes it). */
  repliesTo(message: FakeMessage): FakeMessage[] {
    return this.discord.sentMessages(message.channel_id).filter((m) => m.message_reference?.message_id === message.id);
  }

  /** Waits for the bot's answer to `message` and returns its first chunk. */
  async replyTo(message: FakeMessage, timeoutMs = 10_000): Promise<FakeMessage> {
    return waitFor(() => this.repliesTo(message)[0], timeoutMs, `the bot's reply to "${message.content.slice(0, 40)}"`);
  }

  async close(daemon?: Daemon): Promise<void> {
    await daemon?.dispose();
    await this.discord.close();
    await this.llm.close();
  }
}

/** For tests that each bring their own DiscordWorld and daemons: all stopped and removed after each test. */
export function discordPerTest(): { start(options?: FakeDiscordOptions): Promise<DiscordWorld>; spawn(config: Record<string, unknown>, workspace?: string): Daemon } {
  const cleanUp = cleanUpAfterEach();
  return {
    async start(options) {
      const world = await DiscordWorld.start(options);
      cleanUp.later(() => world.close());
      return world;
    },
    spawn: (config, workspace) => cleanUp.daemon(Daemon.spawn({ config, ...(workspace ? { workspace } : {}) })),
  };
}

/** Each ``` fence line opens or closes a block: a chunk with balanced fences has an even number. */
export function fenceCount(text: string): number {
  return text.split('\n').filter((line) => /^\s*```/.test(line)).length;
}
