import { runPairAction } from '../channels/pair-actions.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import type { EventSource } from '../core/events.ts';
import { parseCommand } from './commands.ts';

export interface AccessCommandContext {
  source: EventSource;
  owner: boolean;
  pairing?: PairingStore;
}

/** /pair (owners, in a DM): answered without the LLM. Undefined for any other text. */
export function runAccessCommand(text: string, ctx: AccessCommandContext): string | undefined {
  const parsed = parseCommand(text);
  if (parsed?.name === 'pair') return pair(parsed.args, ctx);
  return undefined;
}

function pair(args: string, { source, owner, pairing }: AccessCommandContext): string {
  if (!owner) return `Only an owner of this bot can use /pair (channels.${source.channel}.owner_user_ids).`;
  if (source.chatType !== 'private') return 'Use /pair in a direct message with me: pairing codes and user ids do not belong in a group.';
  if (!pairing) return 'Pairing is not available here.';
  try {
    return runPairAction(pairing, args.split(/\s+/).filter(Boolean), `${source.channel}:${source.userId}`, '/pair').text;
  } catch (err) {
    return `Could not change the pairing file: ${(err as Error).message}`;
  }
}
