/**
 * The daemon as the load benchmarks (concurrency, memory, soak) run it: src/main.ts with one
 * setting changed. Telegram lets a bot send about 30 messages a second in all, and the Telegram
 * channel holds its sends to that; at 30 a second, 200 sessions x 5 replies take 33 s and 100,000
 * take 55 minutes, which would measure Telegram's policy, not the daemon. So the bot-wide limit
 * here is the one Telegram grants paid broadcasts (1,000 a second,
 * https://core.telegram.org/bots/api#sendmessage `allow_paid_broadcast`); the per-chat limits
 * stay, and the benchmarks spread their messages over many private chats to stay under them.
 */
import { TELEGRAM_LIMITS } from '../src/channels/telegram/send-limiter.ts';

TELEGRAM_LIMITS.global.limit = 1_000 * (TELEGRAM_LIMITS.global.intervalMs / 1_000);
await import('../src/main.ts');
