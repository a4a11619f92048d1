import type { Config } from '../config/schema.ts';

export type Platform = 'telegram' | 'discord';
export const PLATFORMS: readonly Platform[] = ['telegram', 'discord'];
/** The platform's own keys (channels.telegram.bot_token, ...): today's single bot. */
export const DEFAULT_ACCOUNT = 'default';

type TelegramBlock = Config['channels']['telegram'];
type DiscordBlock = Config['channels']['discord'];
/** One Telegram bot's settings, api_root resolved. */
export type TelegramSettings = Omit<TelegramBlock, 'accounts' | 'enabled'>;
/** One Discord bot's settings, api_base resolved. */
export type DiscordSettings = Omit<DiscordBlock, 'accounts' | 'enabled'>;
export type AccountSettings = TelegramSettings | DiscordSettings;

/** A bot account: the channel it runs as, and where its settings live in the config. */
export interface AccountRef {
  platform: Platform;
  account: string;
  /** `telegram` for the default account (so its session ids stay `telegram:<chat>`), `telegram.<account>` for the others. */
  channel: string;
  /** `channels.telegram` or `channels.telegram.accounts.<account>`: for messages that name a key. */
  configKey: string;
}

export function accountRef(platform: Platform, account: string): AccountRef {
  const isDefault = account === DEFAULT_ACCOUNT;
  return {
    platform,
    account,
    channel: isDefault ? platform : `${platform}.${account}`,
    configKey: isDefault ? `channels.${platform}` : `channels.${platform}.accounts.${account}`,
  };
}

/** The account behind a channel name (`telegram`, `discord.work`); undefined for other channels (the terminal). */
export function accountOfChannel(channel: string): AccountRef | undefined {
  const [platform, account = DEFAULT_ACCOUNT, ...rest] = channel.split('.');
  if (rest.length > 0 || (platform !== 'telegram' && platform !== 'discord')) return undefined;
  return accountRef(platform, account);
}

/**
 * The accounts that run: the platform must be enabled; the default account runs when it has a
 * token or no other account is configured (then a missing token is the loader's error), every
 * named account unless it says `enabled: false`.
 */
export function enabledAccounts(config: Config, platform: Platform): AccountRef[] {
  const block = config.channels[platform];
  if (!block.enabled) return [];
  const named = Object.entries(block.accounts).filter(([, account]) => account.enabled);
  const withDefault = block.bot_token || Object.keys(block.accounts).length === 0;
  return [...(withDefault ? [DEFAULT_ACCOUNT] : []), ...named.map(([name]) => name)].map((name) => accountRef(platform, name));
}

export function allEnabledAccounts(config: Config): AccountRef[] {
  return PLATFORMS.flatMap((platform) => enabledAccounts(config, platform));
}

/** An account's settings as its channel uses them; undefined when the config has no such account. */
export function telegramSettings(config: Config, account: string): TelegramSettings | undefined {
  return resolve(config.channels.telegram, account, 'api_root') as TelegramSettings | undefined;
}

export function discordSettings(config: Config, account: string): DiscordSettings | undefined {
  return resolve(config.channels.discord, account, 'api_base') as DiscordSettings | undefined;
}

type Block = { enabled: boolean; accounts: Record<string, { enabled: boolean }> };

/** The default account is the platform's own keys; a named one is its own keys, with the platform's endpoint unless it has one. */
function resolve(block: Block, account: string, endpoint: 'api_root' | 'api_base'): object | undefined {
  const { accounts, enabled: _enabled, ...platform } = block;
  if (account === DEFAULT_ACCOUNT) return platform;
  const own = accounts[account] as ({ enabled: boolean } & Record<string, unknown>) | undefined;
  if (!own) return undefined;
  const { enabled: _on, ...rest } = own;
  return { ...rest, [endpoint]: rest[endpoint] ?? (platform as Record<string, unknown>)[endpoint] };
}

/** The settings of the account a channel name stands for (access rules, limits, receipts). */
export function settingsOfChannel(config: Config, channel: string): AccountSettings | undefined {
  const ref = accountOfChannel(channel);
  if (!ref) return undefined;
  return ref.platform === 'telegram' ? telegramSettings(config, ref.account) : discordSettings(config, ref.account);
}

/** Every token in the config, for the log's redaction: the default accounts' and the named ones'. */
export function botTokens(config: Config): Array<string | undefined> {
  return PLATFORMS.flatMap((platform) => [config.channels[platform].bot_token, ...Object.values(config.channels[platform].accounts).map((a) => a.bot_token)]);
}
