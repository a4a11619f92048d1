import { AccessGate } from '../channels/access-gate.ts';
import type { Channel, Publish } from '../channels/channel.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

/**
 * The platform channels the config enables. `config` is read again on each use, so reloads apply.
 * A platform's client library is loaded only when its channel is enabled: discord.js alone adds
 * ~45 MiB of RSS, grammY ~20.
 */
export async function createPlatformChannels(config: () => Config, publish: Publish, log: Logger, state: { pairing?: PairingStore; discordCursors: string }): Promise<Channel[]> {
  const channels: Channel[] = [];
  const telegram = () => config().channels.telegram;
  const discord = () => config().channels.discord;
  if (telegram().enabled) {
    const { TelegramChannel } = await import('../channels/telegram/adapter.ts');
    channels.push(new TelegramChannel(telegram, publish, log, new AccessGate('telegram', telegram, state.pairing, log)));
  }
  if (discord().enabled) {
    const { DiscordChannel } = await import('../channels/discord/adapter.ts');
    channels.push(new DiscordChannel(discord, publish, log, new AccessGate('discord', discord, state.pairing, log), state.discordCursors));
  }
  return channels;
}
