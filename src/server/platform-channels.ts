import { AccessGate } from '../channels/access-gate.ts';
import type { Channel, Publish } from '../channels/channel.ts';
import { DiscordChannel } from '../channels/discord/adapter.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import { TelegramChannel } from '../channels/telegram/adapter.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

/** The platform channels the config enables. `config` is read again on each use, so reloads apply. */
export function createPlatformChannels(config: () => Config, publish: Publish, log: Logger, state: { pairing?: PairingStore; discordCursors: string }): Channel[] {
  const channels: Channel[] = [];
  const telegram = () => config().channels.telegram;
  const discord = () => config().channels.discord;
  if (telegram().enabled) channels.push(new TelegramChannel(telegram, publish, log, new AccessGate('telegram', telegram, state.pairing, log)));
  if (discord().enabled) channels.push(new DiscordChannel(discord, publish, log, new AccessGate('discord', discord, state.pairing, log), state.discordCursors));
  return channels;
}
