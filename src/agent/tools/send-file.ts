import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import type { EventBus } from '../../core/bus.ts';
import { createEvent, type EventSource, type OutboundEvent } from '../../core/events.ts';
import { ToolError } from '../../core/errors.ts';
import { megabytes } from '../../media/file-kinds.ts';
import { confine } from './files.ts';
import { defineTool, type Tool } from './tool.ts';

/** The shortest caption limit of the platforms (Telegram's, 1024 characters). */
const MAX_CAPTION = 1024;

export interface SendFileDeps {
  workspace: string;
  bus: EventBus;
  /** The largest file the chat takes, in bytes; undefined when its channel sends no files (the terminal). */
  maxFileBytes: (target: EventSource) => number | undefined;
}

/**
 * `send_file`: a workspace file to the chat the agent is answering, as an outbound event (journaled,
 * delivered once, in order with the replies). Its id derives from the message answered and the
 * file, so a turn replayed after a crash that sends the same file again publishes nothing new.
 */
export function sendFileTool(deps: SendFileDeps): Tool {
  return defineTool({
    name: 'send_file',
    description:
      'Send a file from the workspace to the user in this chat: an image (PNG, JPEG, WEBP) is shown as a photo, anything else arrives as a file to download. Paths are relative to the workspace; write the file first if it does not exist yet.',
    schema: z.object({ path: z.string().min(1), caption: z.string().max(MAX_CAPTION).optional() }),
    async run({ path, caption }, _signal, actor) {
      if (!actor?.eventId) throw new ToolError('send_file works only while answering a chat message');
      const context = { ...actor, eventId: actor.eventId };
      const target = await confine(deps.workspace, path, context.sessionId);
      const info = await stat(target).catch(() => undefined);
      if (!info?.isFile()) throw new ToolError(`${path} is not a file in the workspace`);
      if (info.size === 0) throw new ToolError(`${path} is empty; the platforms do not take empty files`);
      const limit = deps.maxFileBytes(context.source);
      if (limit === undefined) throw new ToolError(`this chat (${context.source.channel}) cannot receive files; tell the user where the file is in the workspace instead`);
      if (info.size > limit) {
        throw new ToolError(`${path} is ${megabytes(info.size)} and ${context.source.channel} takes files up to ${megabytes(limit)} in this chat: make it smaller (compress, split, lower the resolution) or tell the user where it is instead`);
      }
      const id = `${context.eventId}:file:${createHash('sha256').update(target).digest('hex').slice(0, 16)}`;
      const fresh = await deps.bus.publish(
        createEvent<OutboundEvent>({
          id,
          type: 'outbound',
          sessionId: context.sessionId,
          source: context.source,
          content: caption ?? '',
          inReplyTo: context.eventId,
          file: { path: target, name: basename(target) },
        }),
      );
      return fresh ? `sent ${path} (${megabytes(info.size)}) to the chat` : `${path} was already sent to the chat for this message; not sent again`;
    },
  });
}
