import type { SessionStore } from './sessions.ts';

export interface CommandInfo {
  name: string;
  description: string;
}

/** The slash commands the agent answers itself, without the LLM; channels advertise them (Telegram's menu). */
export const COMMANDS: CommandInfo[] = [
  { name: 'help', description: 'What I can do and the commands I know' },
  { name: 'clear', description: 'Start a fresh conversation' },
  { name: 'session', description: 'This conversation: id, message count, model' },
  // answered by access-commands.ts, also when the sender is over a limit
  { name: 'usage', description: 'What you used today, and your limits' },
  { name: 'compact', description: 'Condense the older messages into a summary' },
  // answered by personal-commands.ts
  { name: 'schedules', description: 'Scheduled jobs of this chat; /schedules delete <id>' },
  { name: 'forget', description: 'Show and clear what I remember about you' },
];

export interface CommandContext {
  sessionId: string;
  sessions: SessionStore;
  model: string;
  /** Summarises the session's older messages now; answers what it did. */
  compact: () => Promise<string>;
}

/** `/name` or `/name@botname` at the start of a message, and what follows. */
export function parseCommand(text: string): { name: string; args: string } | undefined {
  const match = /^\/([a-z0-9_]+)(?:@\S+)?(?:\s+([\s\S]*))?$/i.exec(text.trim());
  return match ? { name: match[1]!.toLowerCase(), args: match[2]?.trim() ?? '' } : undefined;
}

export function isCommand(text: string): boolean {
  const parsed = parseCommand(text);
  return parsed !== undefined && COMMANDS.some((c) => c.name === parsed.name);
}

/** Answers a known command; undefined for anything else (an unknown /x goes to the model as text). */
export async function runCommand(text: string, ctx: CommandContext): Promise<string | undefined> {
  const parsed = parseCommand(text);
  switch (parsed?.name) {
    case 'help':
      return [
        "I'm your assistant: write to me in plain words. I remember this conversation and can read and write files in my workspace.",
        '',
        ...COMMANDS.map((c) => `/${c.name} — ${c.description}`),
      ].join('\n');
    case 'clear':
      await ctx.sessions.reset(ctx.sessionId);
      return 'Started a fresh conversation. What would you like to talk about?';
    case 'session': {
      const { count, messages } = await ctx.sessions.load(ctx.sessionId);
      const answeredBy = messages.findLast((m) => m.role === 'assistant' && m.model)?.model;
      const last = answeredBy && answeredBy !== ctx.model ? `\nLast answer from: ${answeredBy} (a fallback: ${ctx.model} had failed)` : '';
      return `Session: ${ctx.sessionId}\nMessages: ${count}\nModel: ${ctx.model}${last}`;
    }
    case 'compact':
      return ctx.compact();
    default:
      return undefined;
  }
}
