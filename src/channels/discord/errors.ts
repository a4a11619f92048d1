import { ChannelError } from '../../core/errors.ts';

/**
 * Gateway close codes after which Discord will not take the bot back, whatever the retries: the
 * owner has to change something. https://discord.com/developers/docs/topics/opcodes-and-status-codes#gateway-gateway-close-event-codes
 */
const FATAL_CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [4004, 'channels.discord.bot_token (or DISCORD_BOT_TOKEN) was rejected by Discord: reset the token in the Developer Portal and update the config'],
  [4010, 'Discord closed the gateway with 4010 (invalid shard): Discord does not take the shard count in channels.discord.shards for this bot: set shards: auto and start mybot again'],
  [4011, 'Discord closed the gateway with 4011 (sharding required): the bot is in too many servers for channels.discord.shards connections: set shards: auto (or a larger number) and start mybot again'],
  [4012, 'Discord closed the gateway with 4012 (invalid API version): update mybot (npm update discord.js)'],
  [4013, 'Discord closed the gateway with 4013 (invalid intents): report this as a bug in mybot'],
  [
    4014,
    'Discord closed the gateway with 4014 (disallowed intents): enable the Message Content intent: Developer Portal → your application → Bot → Privileged Gateway Intents → Message Content Intent, then start mybot again',
  ],
]);

/** The one line that tells the owner what to fix, or undefined when a reconnect can help. */
export function fatalCloseMessage(code: number): string | undefined {
  return FATAL_CLOSE_CODES.get(code);
}

/** The ChannelError for a gateway that closed for good: fatal when it names something to fix. */
export function closeError(code: number, cause?: unknown): ChannelError {
  const message = fatalCloseMessage(code);
  return new ChannelError(message ?? `Discord closed the gateway with ${code}`, false, { cause, fatal: message !== undefined });
}

/** discord.js rejects `login()` with these when the gateway or REST turned the bot away for good. */
export function closeCodeInError(err: unknown): number | undefined {
  if ((err as { code?: unknown } | null)?.code === 'TokenInvalid' || apiStatus(err) === 401) return 4004;
  const message = err instanceof Error ? err.message : String(err);
  if (/disallowed intent/i.test(message)) return 4014;
  if (/invalid intent/i.test(message)) return 4013;
  if (/sharding is required/i.test(message)) return 4011;
  if (/invalid shard/i.test(message)) return 4010;
  if (/authentication failed|invalid token was provided/i.test(message)) return 4004;
  return undefined;
}

/** Why `start` failed: fatal when the owner must fix something, retryable when Discord was unreachable. */
export function startError(err: unknown, apiBase: string): ChannelError {
  if (err instanceof ChannelError) return err;
  const code = closeCodeInError(err);
  if (code !== undefined) return closeError(code, err);
  return new ChannelError(`could not connect to Discord at ${apiBase} (channels.discord.api_base): ${describe(err)}`, true, { cause: err });
}

/**
 * A failed REST call as a ChannelError, told apart by shape so only adapter.ts imports discord.js
 * (DiscordAPIError: `status` + `code`; HTTPError: `status`). Rate limits, 5xx and the network are
 * worth another try; other 4xx (missing permission, unknown channel, too long) fail the same way again.
 */
export function toChannelError(err: unknown, what: string): ChannelError {
  if (err instanceof ChannelError) return err;
  const status = apiStatus(err);
  if (status === undefined) return new ChannelError(`could not reach Discord to ${what}: ${describe(err)}`, true, { cause: err });
  const code = (err as { code?: unknown }).code;
  const detail = typeof code === 'number' ? `${status} ${code} ${describe(err)}${hintFor(status, code)}` : `HTTP ${status}`;
  return new ChannelError(`Discord refused to ${what}: ${detail}`, status === 429 || status >= 500, { cause: err });
}

function apiStatus(err: unknown): number | undefined {
  if (!(err instanceof Error) || !/^(DiscordAPIError|HTTPError)/.test(err.name)) return undefined;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

function hintFor(status: number, code: number): string {
  if (status === 401) return ': channels.discord.bot_token was rejected; reset it in the Developer Portal and update the config';
  if (code === 50001 || code === 50013) return ': give the bot View Channel, Send Messages and Send Messages in Threads in that channel';
  if (code === 10003) return ': the channel is gone, or the bot was removed from the server';
  return '';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
