import type { Channel, Publish } from '../channels/channel.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

/** The platform channels the config enables. */
export function createPlatformChannels(_config: Config, _publish: Publish, _log: Logger): Channel[] {
  return [];
}
