import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROJECT_ROOT } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';
import { discordPerTest, type DiscordWorld } from './discord-setup.ts';

const INTENT_FIX = 'enable the Message Content intent: Developer Portal → your application → Bot → Privileged Gateway Intents → Message Content Intent';
const TOKEN_FIX = 'channels.discord.bot_token (or DISCORD_BOT_TOKEN) was rejected by Discord: reset the token in the Developer Portal and update the config';

describe('the Discord channel across start, fatal closes and crashes', () => {
  const { start, spawn } = discordPerTest();
  let world: DiscordWorld;

  it('exits 1 at start, saying what to fix, when the Message Content intent is off (close 4014)', async () => {
    world = await start({ disallowMessageContent: true });
    const daemon = spawn(world.config());
    expect(await daemon.waitForExit()).toBe(1);
    expect(daemon.output).toContain(INTENT_FIX);
    expect(daemon.output).not.toContain('mybot is up');
    expect(world.discord.identifyCount).toBe(0);
  });

  it('exits 1 at start with the token fix when Discord rejects the token', async () => {
    world = await start();
    const daemon = spawn({ ...world.config({ bot_token: 'not-the-right-token' }) });
    expect(await daemon.waitForExit()).toBe(1);
    expect(daemon.output).toContain(`mybot: ${TOKEN_FIX}`);
    expect(daemon.output).not.toContain('not-the-right-token');
  });

  it('stops the running daemon with exit code 1 and the fix when the gateway later closes with 4014', async () => {
    world = await start();
    const daemon = spawn(world.config());
    await daemon.ready();
    world.discord.closeSockets(4014, 'Disallowed intent(s).');
    expect(await daemon.waitForExit()).toBe(1);
    expect(daemon.output).toContain(`mybot: Discord closed the gateway with 4014 (disallowed intents): ${INTENT_FIX}`);
    expect(daemon.hasLog('worker crashed; restarting')).toBeUndefined();
    expect(world.discord.identifyCount).toBe(1);
  });

  it('answers a message once when the daemon is killed before its reply was confirmed (nonce replay)', async () => {
    world = await start();
    const { discord } = world;
    const first = spawn(world.config());
    await first.ready();
    // SIGKILL the daemon the moment its reply reaches Discord: the message is created, the daemon never learns it
    const handle = discord.rest.handle.bind(discord.rest);
    discord.rest.handle = (req: IncomingMessage, res: ServerResponse) => {
      if (req.method === 'POST' && /\/messages$/.test(req.url ?? '') && first.exitCode === undefined) first.child.kill('SIGKILL');
      return handle(req, res);
    };
    const message = discord.userSays({ content: 'do not answer twice', mentionBot: true });
    await first.waitForExit();
    expect(world.repliesTo(message)).toHaveLength(1);

    const second = spawn(world.config(), first.workspace);
    await second.ready();
    await second.waitForLog('reply delivered', (l) => l['eventId'] === `discord:${message.channel_id}:${message.id}:reply`);
    const posts = discord.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages'));
    expect(posts).toHaveLength(2);
    expect((posts[1]?.body as { nonce?: string }).nonce).toBe((posts[0]?.body as { nonce?: string }).nonce);
    expect(world.repliesTo(message).map((m) => m.content)).toEqual(['echo: do not answer twice']);
    expect(world.llm.requests).toHaveLength(1);
  });

  it('answers a message the daemon had journaled but not answered when it was killed', async () => {
    world = await start();
    const { discord, llm } = world;
    const first = spawn(world.config());
    await first.ready();
    llm.setLatency(60_000);
    const message = discord.userSays({ content: 'remember me', mentionBot: true });
    await llm.waitForRequests(1);
    await first.kill('SIGKILL');
    llm.setLatency(0);

    const second = spawn(world.config(), first.workspace);
    await second.ready();
    expect((await world.replyTo(message)).content).toBe('echo: remember me');
    await second.waitForLog('reply delivered', (l) => l['eventId'] === `discord:${message.channel_id}:${message.id}:reply`);
    expect(world.repliesTo(message)).toHaveLength(1);
  });

  it('npm run status does not call a gateway connected while it acknowledges no heartbeat, and does again once it does', { timeout: 60_000 }, async () => {
    world = await start();
    const daemon = spawn(world.config());
    await daemon.ready();
    const status = () => spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' }).stdout;
    await waitFor(() => status().includes('discord: connected'), 15_000, 'discord: connected');

    world.discord.gateway.ackHeartbeats = false;
    await waitFor(() => /discord: reconnecting \(last error: the Discord gateway has not acknowledged a heartbeat for \d+ s\)/.test(status()), 20_000, 'the missing heartbeat ACKs in the status');
    // discord.js reconnects and even resumes meanwhile, but a resumed socket without ACKs is still not connected
    for (let i = 0; i < 3; i++) expect(status()).not.toContain('discord: connected');
    expect(world.discord.resumeCount).toBeGreaterThan(0);

    world.discord.gateway.ackHeartbeats = true;
    await waitFor(() => status().includes('discord: connected'), 20_000, 'discord: connected again');
  });
});
