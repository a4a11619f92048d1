/**
 * Added latency of the Discord path (bench/loopback.ts): from a MESSAGE_CREATE dispatch leaving
 * the fake gateway to the reply's `POST /channels/{id}/messages` reaching the fake REST, with an
 * instant fake LLM, minus the same round trip through a relay.
 *
 * Messages go one at a time, mentioning the bot, spread over a channel and its threads, paced at
 * 20/s: with the default receipt (a 👀 reaction in groups) each makes two requests, and discord.js
 * holds requests back above 50/s (`globalRequestsPerSecond`, Discord's global limit for a bot),
 * which would measure the limiter, not the pipeline (at 25/s its p99 was 93 ms). The config is the
 * default one; the workspace has the AGENT.md a new workspace gets, and the daemon logs at info,
 * as in production.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDiscord, type RestRequestRecord } from '../test/fakes/discord.ts';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { OPEN_ACCESS } from '../test/helpers/config.ts';
import { Daemon, PROJECT_ROOT } from '../test/helpers/daemon.ts';
import { addedLatencyRows, relayRoundTrip, timeRoundTrips, type RoundTrips } from './loopback.ts';
import type { Bench } from './table.ts';

const THREADS = 9;
const PACE_MS = 50;
const MESSAGE_POST = /^\/channels\/\d+\/messages$/;

export const run: Bench = async ({ quick }) => {
  const n = quick ? 50 : 1_000;
  const warmup = quick ? 10 : 50;
  const [discord, llm] = await Promise.all([FakeDiscord.start(), FakeOpenAI.start()]);
  const daemon = await Daemon.start({
    config: {
      llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
      channels: { discord: { enabled: true, bot_token: discord.token, api_base: discord.apiBase, ...OPEN_ACCESS } },
    },
    files: { 'AGENT.md': readFileSync(join(PROJECT_ROOT, 'default_workspace', 'AGENT.md'), 'utf8') },
    env: { MYBOT_LOG_LEVEL: 'info' },
  });
  try {
    const channels = [discord.textChannelId, ...Array.from({ length: THREADS }, (_, i) => discord.addThread(discord.textChannelId, `bench ${i}`).id)];
    const nextAnswer = watchReplies(discord);
    const roundTrips = (count: number, mentionBot: boolean): RoundTrips => ({
      count,
      warmup,
      paceMs: PACE_MS,
      send: (i) => discord.userSays({ channelId: channels[i % channels.length], content: `message ${i}`, mentionBot }),
      nextAnswer,
      // the reply answered (and the typing call, were one made) before the next message
      settled: () => discord.requests.every((r) => r.status !== 0),
    });
    const samples = await timeRoundTrips(roundTrips(n, true));
    await daemon.dispose();
    const roundTrip = await relayRoundTrip(RELAY, [discord.gatewayUrl, discord.apiBase, discord.token], () => timeRoundTrips(roundTrips(quick ? 30 : 200, false)));
    return addedLatencyRows('discord: added latency MESSAGE_CREATE → reply', samples, roundTrip);
  } finally {
    await daemon.dispose();
    await Promise.all([discord.close(), llm.close()]);
  }
};

/** Resolves, one reply at a time, with the moment its create-message request reached the fake. */
function watchReplies(discord: FakeDiscord): () => Promise<number> {
  let waiter: ((at: number) => void) | undefined;
  const records = discord.requests;
  const push = records.push.bind(records);
  // the fake records a request as soon as its headers arrive, before reading the body
  records.push = (...added: RestRequestRecord[]) => {
    const at = performance.now();
    if (waiter && added.some((r) => r.method === 'POST' && MESSAGE_POST.test(r.path))) {
      const resolve = waiter;
      waiter = undefined;
      resolve(at);
    }
    return push(...added);
  };
  return () => new Promise<number>((resolve) => (waiter = resolve));
}

/** The relay: a bare gateway client that answers each user message with one REST call, nothing else. */
const RELAY = `
import { WebSocket } from 'ws';
const [gateway, api, token] = process.argv.slice(1);
const ws = new WebSocket(gateway + '?v=10&encoding=json');
ws.on('message', (data) => {
  const { op, t, d } = JSON.parse(data.toString());
  if (op === 10) ws.send(JSON.stringify({ op: 2, d: { token, intents: (1 << 9) | (1 << 15), properties: {} } }));
  if (op === 0 && t === 'READY') process.stdout.write('ready\\n');
  if (op === 0 && t === 'MESSAGE_CREATE' && !d.author.bot) {
    fetch(api + '/v10/channels/' + d.channel_id + '/messages', {
      method: 'POST', headers: { authorization: 'Bot ' + token, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'relay' }),
    }).then((res) => res.arrayBuffer(), () => undefined);
  }
});
`;
