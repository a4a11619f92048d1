import { accountOfChannel } from '../channels/accounts.ts';
import { runPairAction } from '../channels/pair-actions.ts';
import type { PairingStore } from '../channels/pairing-store.ts';
import type { EventSource } from '../core/events.ts';
import { parseCommand } from './commands.ts';
import { tokensOf, type UsageLimiter } from './limits.ts';
import type { Tally } from './usage-store.ts';

export interface AccessCommandContext {
  source: EventSource;
  owner: boolean;
  pairing?: PairingStore;
  usage?: UsageLimiter;
}

const TOP = 5;

/**
 * /pair (owners, in a DM) and /usage: answered without the LLM, and also while the sender is over
 * a limit. Undefined for any other text.
 */
export function runAccessCommand(text: string, ctx: AccessCommandContext): string | undefined {
  const parsed = parseCommand(text);
  if (parsed?.name === 'pair') return pair(parsed.args, ctx);
  if (parsed?.name === 'usage') return usage(ctx);
  return undefined;
}

function pair(args: string, { source, owner, pairing }: AccessCommandContext): string {
  if (!owner) return `Only an owner of this bot can use /pair (${accountOfChannel(source.channel)?.configKey ?? `channels.${source.channel}`}.owner_user_ids).`;
  if (source.chatType !== 'private') return 'Use /pair in a direct message with me: pairing codes and user ids do not belong in a group.';
  if (!pairing) return 'Pairing is not available here.';
  try {
    return runPairAction(pairing, args.split(/\s+/).filter(Boolean), `${source.channel}:${source.userId}`, '/pair').text;
  } catch (err) {
    return `Could not change the pairing file: ${(err as Error).message}`;
  }
}

function usage({ source, owner, usage: limiter }: AccessCommandContext): string {
  if (!limiter) return 'Usage is not counted here.';
  const { day, user, chat } = limiter.today(source);
  const lines = [`Today (UTC, ${day}), you: ${figures(user)}.`];
  if (source.chatType === 'group') lines.push(`This chat: ${figures(chat)}.`);
  const limits = limiter.describe(source);
  if (!owner) return [...lines, ...(limits ? [limits] : [])].join('\n');
  lines.push('', 'Owners have no limits. Top users today:', ...ranking(limiter.top('user', TOP)), 'Top chats today:', ...ranking(limiter.top('chat', TOP)));
  return [...lines, ...costLines(limiter)].join('\n');
}

/** With limits.prices set: what each model cost today and this month (UTC), estimated. */
function costLines(limiter: UsageLimiter): string[] {
  const costs = limiter.costsByModel?.().filter((c) => c.month.cost > 0) ?? [];
  if (costs.length === 0) return [];
  return ['Estimated LLM cost per model (limits.prices):', ...costs.map((c) => `  ${c.model}: today ${c.today.cost.toFixed(4)}, this month ${c.month.cost.toFixed(4)}`)];
}

function ranking(entries: Array<[string, Tally]>): string[] {
  return entries.length === 0 ? ['  nobody yet'] : entries.map(([key, tally], i) => `  ${i + 1}. ${key}: ${figures(tally)}`);
}

function figures(tally: Tally | undefined): string {
  const t = tally ?? { messages: 0, promptTokens: 0, completionTokens: 0, cost: 0 };
  return `${t.messages} message${t.messages === 1 ? '' : 's'}, ${tokensOf(t)} tokens${t.cost > 0 ? `, about ${t.cost.toFixed(4)} in LLM cost` : ''}`;
}
