/**
 * The floor under the concurrency figure, run as its own process as the daemon is: the same
 * outgoing calls, made with the same libraries and settings, and nothing else. Per chat, one
 * after the other, a streamed chat completion through the OpenAI SDK (with mybot's fetch) and the
 * answer sent with grammY's Api; all chats side by side. No getUpdates, journal, sessions, bus or
 * limiter: what the daemon adds on top of these calls is what mybot can change.
 *
 * Usage: client-floor.ts <llm url> <api root> <token> <first chat> <chats> <messages per chat>.
 * Warms up, prints "warm", waits for a line on stdin (the caller sets the LLM's latency
 * meanwhile), runs, and prints {"cpuMs": ...}.
 */
import { once } from 'node:events';
import { Api } from 'grammy';
import OpenAI from 'openai';
import { keepAliveFetch } from '../src/agent/keep-alive-fetch.ts';

const [llmUrl, apiRoot, token, firstChat, chats, messages] = process.argv.slice(2) as [string, string, string, string, string, string];
const llm = new OpenAI({ baseURL: llmUrl, apiKey: 'not-needed', maxRetries: 0, logLevel: 'off', fetch: keepAliveFetch });
const telegram = new Api(token, { apiRoot });

async function answer(chatId: number, text: string): Promise<void> {
  const stream = await llm.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: text }], stream: true, stream_options: { include_usage: true } });
  let reply = '';
  for await (const chunk of stream) reply += chunk.choices[0]?.delta?.content ?? '';
  await telegram.sendMessage(chatId, reply);
}

async function chat(chatId: number, count: number): Promise<void> {
  for (let m = 0; m < count; m++) await answer(chatId, `m${m}`);
}

const first = Number(firstChat);
// warm-up: compiled code and open connections, as the daemon has after its own warm-up
await Promise.all(Array.from({ length: 50 }, (_, i) => chat(first - i, 6)));
process.stdout.write('warm\n');
await once(process.stdin, 'data');
const before = process.cpuUsage();
await Promise.all(Array.from({ length: Number(chats) }, (_, s) => chat(first - s, Number(messages))));
const cpu = process.cpuUsage(before);
process.stdout.write(`${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
