import { join } from 'node:path';
import { AccessGate } from '../channels/access-gate.ts';
import { allEnabledAccounts, DEFAULT_ACCOUNT, discordSettings, telegramSettings, type AccountRef, type DiscordSettings, type TelegramSettings } from '../channels/accounts.ts';
import type { Channel, Publish } from '../channels/channel.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import type { PlatformObserver } from '../channels/platform-observer.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { RouteHost } from './http-server.ts';

export interface ChannelDeps {
  pairing?: PairingStore;
  /** The workspace's state folder: each Discord account keeps its catch-up cursors there. */
  stateDir: string;
  observer: PlatformObserver;
  /** Where a Telegram account in webhook mode serves its route: server.http_port's server, or its own webhook_port. */
  webhookHost: (port: number | undefined) => Promise<RouteHost>;
}

/**
 * The channels of the accounts the config enables, or only the one named `only`. `config` is read
 * again on each use, so reloads apply. A platform's client library is loaded only when one of its
 * accounts is enabled: discord.js alone adds ~45 MiB of RSS, grammY ~20.
 */
export async function createPlatformChannels(config: () => Config, publish: Publish, log: Logger, deps: ChannelDeps, only?: string): Promise<Channel[]> {
  const channels: Channel[] = [];
  for (const ref of allEnabledAccounts(config()).filter((a) => only === undefined || a.channel === only)) {
    if (ref.platform === 'telegram') {
      const settings = lastKnown(() => telegramSettings(config(), ref.account));
      const { TelegramChannel } = await import('../channels/telegram/adapter.ts');
      const webhooks = settings().mode === 'webhook' ? await deps.webhookHost(settings().webhook_port) : undefined;
      channels.push(new TelegramChannel(settings, publish, log, new AccessGate(ref.channel, settings, deps.pairing, log), { account: ref, observer: deps.observer, webhooks }));
    } else {
      const settings = lastKnown(() => discordSettings(config(), ref.account));
      const { DiscordChannel } = await import('../channels/discord/adapter.ts');
      channels.push(new DiscordChannel(settings, publish, log, new AccessGate(ref.channel, settings, deps.pairing, log), cursorFile(deps.stateDir, ref), { account: ref, observer: deps.observer }));
    }
  }
  return channels;
}

/** `.mybot/discord-cursors.json` for the default account, as before accounts; `discord-cursors.<name>.json` for the others. */
function cursorFile(stateDir: string, ref: AccountRef): string {
  return join(stateDir, ref.account === DEFAULT_ACCOUNT ? 'discord-cursors.json' : `discord-cursors.${ref.account}.json`);
}

/** An account removed by a reload keeps its last settings until the app stops its channel. */
function lastKnown<T extends TelegramSettings | DiscordSettings>(read: () => T | undefined): () => T {
  let last = read();
  if (!last) throw new Error('createPlatformChannels: an enabled account without settings');
  return () => (last = read() ?? last!);
}
