import type { Channel, Publish } from '../channels/channel.ts';
import { DiscordChannel } from '../channels/discord/adapter.ts';
import { TelegramChannel } from '../channels/telegram/adapter.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

/** The platform channels the config enables. `config` is read again on each use, so reloads apply. */
export function createPlatformChannels(config: () => Config, publish: Publish, log: Logger, paths: { discordCursors: string }): Channel[] {
  const channels: Channel[] = [];
  if (config().channels.telegram.enabled) channels.push(new TelegramChannel(() => config().channels.telegram, publish, log));
  if (config().channels.discord.enabled) channels.push(new DiscordChannel(() => config().channels.discord, publish, log, paths.discordCursors));
  return channels;
}
