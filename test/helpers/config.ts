import type { FakeDiscord } from '../fakes/discord.ts';
import type { FakeOpenAI } from '../fakes/openai.ts';
import type { FakeTelegram } from '../fakes/telegram.ts';

/**
 * Everyone may write, in DMs and groups. An empty allowlist alone means pairing: tests about
 * something else open the bot, as an owner who wants that would.
 */
export const OPEN_ACCESS = { dm_policy: 'open', group_policy: 'open' } as const;

/** config.user.yaml for a daemon pointed at the fakes: the LLM, and each platform fake given. */
export function fakesConfig(fakes: { llm: FakeOpenAI; telegram?: FakeTelegram; discord?: FakeDiscord }): Record<string, unknown> {
  const { llm, telegram, discord } = fakes;
  return {
    llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
    channels: {
      ...(telegram ? { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } } : {}),
      ...(discord ? { discord: { enabled: true, bot_token: discord.token, api_base: discord.apiBase, ...OPEN_ACCESS } } : {}),
    },
  };
}
