import type { OutboundEvent } from '../core/events.ts';
import { ChannelError } from '../core/errors.ts';
import type { Channel } from './channel.ts';

/** An outbound event that carries a file (send_file): one send, its `content` as the caption. */
export function sendOutboundFile(channel: Channel, event: OutboundEvent & { file: NonNullable<OutboundEvent['file']> }): Promise<string | void> {
  if (!channel.sendFile) return Promise.reject(new ChannelError(`the ${channel.name} channel cannot send files`, false));
  return channel.sendFile({ target: event.source, path: event.file.path, name: event.file.name, caption: event.content, eventId: event.id });
}
