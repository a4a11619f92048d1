import type { Channel, Publish } from '../channels/channel.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

/** The platform channels the config enables. `config` is read again on each use, so reloads apply. */
export function createPlatformChannels(config: () => Config, publish: Publish, log: Logger): Channel[] {
  const channels: Channel[] = [];
  void config;
  void publish;
  void log;
  return channels;
}
