import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { cleanUpAfterEach } from '../helpers/cleanup.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { get, httpBase } from '../helpers/http.ts';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text.ts';
import { waitFor } from '../helpers/wait.ts';
import { DiscordWorld } from './discord-setup.ts';

const GROUP = -1_001_000_000_321;
const ALICE = 2_101;


describe('the HTTP endpoint: /healthz and /metrics of the real daemon', () => {
  const { daemon: keep, later } = cleanUpAfterEach();

  it('/healthz flips to 503 naming Discord when the gateway stops acknowledging heartbeats, and back to 200', { timeout: 60_000 }, async () => {
    const world = await DiscordWorld.start();
    later(() => world.close());
    const daemon = Daemon.spawn({ config: { ...world.config(), server: { http_port: 0 } } });
    keep(daemon);
    await daemon.ready();
    const health = `${await httpBase(daemon)}/healthz`;
    const healthy = await waitFor(async () => {
      const res = await get(health);
      return res.status === 200 && res;
    }, 15_000, '/healthz 200');
    expect(JSON.parse(healthy.text)).toMatchObject({ status: 'ok', bus: 'running', channels: { discord: { state: 'connected' } }, problems: [] });

    world.discord.gateway.ackHeartbeats = false;
    const sick = await waitFor(async () => {
      const res = await get(health);
      return res.status === 503 && res;
    }, 20_000, '/healthz 503');
    const body = JSON.parse(sick.text) as { status: string; channels: Record<string, { state: string }>; problems: string[] };
    expect(body.status).toBe('unavailable');
    expect(body.channels.discord?.state).toBe('reconnecting');
    expect(body.problems).toEqual([expect.stringMatching(/^discord is reconnecting/)]);

    world.discord.gateway.ackHeartbeats = true;
    await waitFor(async () => (await get(health)).status === 200, 20_000, '/healthz 200 again');
  });

  it('/metrics parses as Prometheus text and counts one message in and one reply out per message, with no user text or id in a label', async () => {
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    later(() => telegram.close(), () => llm.close());
    const config = fakesConfig({ llm, telegram });
    const daemon = await Daemon.start({ config: { ...config, server: { http_port: 0 }, limits: { prices: { fake: { input_per_mtok: 1, output_per_mtok: 2 } } } } });
    keep(daemon);
    const metrics = `${await httpBase(daemon)}/metrics`;
    const scrape = async () => {
      const res = await get(metrics);
      expect(res.status).toBe(200);
      expect(res.type).toContain('text/plain');
      return { text: res.text, families: parsePrometheusText(res.text) };
    };

    const before = await scrape();
    expect(valueOf(before.families, 'mybot_messages_in_total', { channel: 'telegram' }) ?? 0).toBe(0);
    expect(before.families.some((f) => f.name === 'process_resident_memory_bytes')).toBe(true);

    telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'secret plans for the weekend' });
    await waitFor(() => telegram.botMessages(GROUP).length === 1, 10_000, 'the first reply');
    await daemon.waitForLog('reply delivered');
    let after = await scrape();
    expect(valueOf(after.families, 'mybot_messages_in_total', { channel: 'telegram' })).toBe(1);
    expect(valueOf(after.families, 'mybot_messages_out_total', { channel: 'telegram' })).toBe(1);
    expect(valueOf(after.families, 'mybot_turn_duration_seconds_count', { outcome: 'ok' })).toBe(1);
    expect(valueOf(after.families, 'mybot_llm_request_duration_seconds_count', { model: 'fake', outcome: 'ok' })).toBe(1);
    expect(valueOf(after.families, 'mybot_llm_tokens_total', { model: 'fake', kind: 'prompt' })).toBeGreaterThan(0);
    expect(valueOf(after.families, 'mybot_llm_estimated_cost', { model: 'fake', period: 'today' })).toBeGreaterThan(0);
    expect(valueOf(after.families, 'mybot_journal_pending', {})).toBe(0);
    expect(valueOf(after.families, 'mybot_dead_letters', {})).toBe(0);
    expect(valueOf(after.families, 'mybot_sessions_active', {})).toBe(1);

    expect(valueOf(after.families, 'mybot_platform_rate_limited_total', { platform: 'telegram' }) ?? 0).toBe(0);
    telegram.failNext('sendMessage', 1, { kind: '429', retryAfter: 1 });
    telegram.userSays({ chatId: GROUP, userId: ALICE, mention: true, text: 'and one more' });
    await waitFor(() => telegram.botMessages(GROUP).length === 2, 10_000, 'the second reply');
    after = await scrape();
    expect(valueOf(after.families, 'mybot_messages_in_total', { channel: 'telegram' })).toBe(2);
    expect(valueOf(after.families, 'mybot_messages_out_total', { channel: 'telegram' })).toBe(2);
    expect(valueOf(after.families, 'mybot_platform_rate_limited_total', { platform: 'telegram' })).toBe(1);
    expect(valueOf(after.families, 'mybot_platform_retries_total', { platform: 'telegram' })).toBe(1);

    // labels carry names, never what users wrote, who they are, or a secret
    const labelValues = after.families.flatMap((f) => f.samples.flatMap((m) => Object.values(m.labels)));
    for (const value of labelValues) {
      expect(value).not.toContain('weekend');
      expect(value).not.toContain(String(ALICE));
      expect(value).not.toContain(String(GROUP));
    }
    expect(after.text).not.toContain(telegram.token);
  });

  it('asks for the bearer token when server.http_token is set', async () => {
    const llm = await FakeOpenAI.start();
    later(() => llm.close());
    const daemon = await Daemon.start({ config: { ...fakesConfig({ llm }), server: { http_port: 0, http_token: 'a-long-enough-test-token' } } });
    keep(daemon);
    const base = await httpBase(daemon);
    for (const path of ['/healthz', '/metrics']) {
      expect((await get(`${base}${path}`)).status).toBe(401);
      expect((await get(`${base}${path}`, { authorization: 'Bearer wrong-token-of-same-len' })).status).toBe(401);
      expect((await get(`${base}${path}`, { authorization: 'Bearer a-long-enough-test-token' })).status).toBe(200);
    }
    expect((await get(`${base}/nothing-here`)).status).toBe(404);
    expect(daemon.output).not.toContain('a-long-enough-test-token');
    // npm run status says where the endpoint is
    const status = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' }).stdout;
    await waitFor(() => status().includes(`HTTP: ${base}/healthz and /metrics`), 10_000, 'the address in npm run status');
  });
});
