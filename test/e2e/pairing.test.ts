import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 5001;
const STRANGER = 5002;
const NEWCOMER = 5003;
const GROUP = -1_005_000_000_001;
const CODE = /pairing code is ([A-Z2-9]{8})/;

/** `npm run pair -- <args>` on the daemon's workspace, as an owner types it next to the running daemon. */
function pair(workspace: string, ...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn('npm', ['run', '--silent', 'pair', '--', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, MYBOT_WORKSPACE: workspace },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

/**
 * The default access policy: with no allowlist, a stranger who writes in a DM gets a pairing code
 * and nothing else, until an owner approves the code from the command line or from a DM.
 */
describe('DM pairing, end to end: the real daemon, fake Telegram and Discord, fake LLM', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  let config: Record<string, unknown>;
  const llmSaw = (text: string) => llm.requests.some((r) => JSON.stringify(r.messages).includes(text));
  const texts = (chatId: number) => telegram.botMessages(chatId).map((m) => m.text ?? '');
  const answered = (chatId: number, text: string) => waitFor(() => texts(chatId).includes(`echo: ${text}`), 10_000, `the answer to "${text}"`);

  /** Waits until the daemon turned this message away (logged), so what it did not do can be asserted. */
  async function turnedAway(chatId: number, text: string): Promise<void> {
    const message = telegram.userSays({ chatId, text });
    await daemon.waitForLog(/not in channels\.telegram\.allowed_user_ids/, (l) => l.chatId === chatId && l.messageId === message.message_id);
  }

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start({ heartbeatIntervalMs: 1_000 }), FakeOpenAI.start()]);
    config = {
      llm: { api_base: llm.url, model: 'fake', max_retries: 0 },
      channels: {
        telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, owner_user_ids: [OWNER] },
        discord: { enabled: true, bot_token: discord.token, api_base: discord.apiBase },
      },
    };
    daemon = await Daemon.start({ config });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  it('says at start, in one line, how to pair', async () => {
    const lines = daemon.lines.filter((l) => /npm run pair -- approve <code>/.test(l.msg));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ channels: ['telegram', 'discord'] });
  });

  it('a stranger gets a code and 0 LLM calls; approved with npm run pair, answered, also after a restart; revoked, not', async () => {
    telegram.userSays({ chatId: STRANGER, text: 'hello, who are you?' });
    const [first] = await waitFor(() => texts(STRANGER).length > 0 && texts(STRANGER), 10_000, 'the pairing code');
    const code = CODE.exec(first!)?.[1];
    expect(code).toBeDefined();
    await turnedAway(STRANGER, 'please answer');
    expect(texts(STRANGER)).toEqual([first]); // one code, not one per message
    expect(llm.requests).toHaveLength(0);
    // turned away before the journal: nothing of theirs is stored
    expect(readFileSync(join(daemon.workspace, '.mybot', 'journal.jsonl'), 'utf8')).not.toContain('please answer');
    expect(readdirSync(join(daemon.workspace, 'sessions'))).toEqual([]);

    const listed = await pair(daemon.workspace, 'list');
    expect(listed.output).toContain(`${code}: telegram user ${STRANGER} (alice), expires in 60 min`);
    const approved = await pair(daemon.workspace, 'approve', code!.toLowerCase());
    expect(approved).toEqual({ code: 0, output: `Approved telegram user ${STRANGER} (alice): their next message will be answered.\n` });
    expect(await pair(daemon.workspace, 'approve', code!)).toMatchObject({ code: 1, output: expect.stringMatching(/^No pending code/) });

    telegram.userSays({ chatId: STRANGER, text: 'may I now?' });
    await answered(STRANGER, 'may I now?');
    expect(llmSaw('please answer')).toBe(false);

    expect(await daemon.kill('SIGTERM')).toBe(0);
    daemon = await Daemon.start({ config, workspace: daemon.workspace });
    telegram.userSays({ chatId: STRANGER, text: 'after the restart' });
    await answered(STRANGER, 'after the restart');

    expect(await pair(daemon.workspace, 'revoke', String(STRANGER))).toMatchObject({ code: 0, output: expect.stringMatching(/^Revoked telegram user 5002/) });
    const before = llm.requests.length;
    await turnedAway(STRANGER, 'and now?');
    await waitFor(() => CODE.test(texts(STRANGER).at(-1)!) && texts(STRANGER).at(-1) !== first, 10_000, 'a new pairing code');
    expect(llm.requests.length).toBe(before);
    expect(llmSaw('and now?')).toBe(false);
  });

  it('an owner approves a code with /pair in a DM; only owners may, and groups follow the same list', async () => {
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: NEWCOMER, mention: true, text: 'group hello' });
    await daemon.waitForLog(/not in channels\.telegram\.allowed_user_ids/, (l) => l.userId === String(NEWCOMER));
    telegram.userSays({ chatId: NEWCOMER, text: 'hi' });
    const code = await waitFor(() => CODE.exec(texts(NEWCOMER).join('\n'))?.[1], 10_000, 'the newcomer’s code');

    telegram.userSays({ chatId: OWNER, text: '/pair list' });
    await waitFor(() => texts(OWNER).some((t) => t.includes(`${code}: telegram user ${NEWCOMER}`)), 10_000, 'the owner’s list');
    telegram.userSays({ chatId: OWNER, text: `/pair approve ${code}` });
    await waitFor(() => texts(OWNER).includes(`Approved telegram user ${NEWCOMER} (alice): their next message will be answered.`), 10_000, 'the approval');

    telegram.userSays({ chatId: NEWCOMER, text: '/pair list' });
    await waitFor(() => texts(NEWCOMER).includes('Only an owner of this bot can use /pair (channels.telegram.owner_user_ids).'), 10_000, 'the refusal');
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: NEWCOMER, mention: true, text: 'group again' });
    await answered(GROUP, 'group again');
    expect(texts(GROUP)).toEqual(['echo: group again']);
    expect(llmSaw('/pair') || llmSaw('group hello')).toBe(false);
  });

  it('Discord: a stranger in a DM gets a code, and is answered once it is approved', async () => {
    const stranger = discord.nextId();
    const dm = discord.dmChannelFor(stranger, 'mallory');
    discord.userSays({ channelId: dm.id, content: 'hello from discord' });
    const code = await waitFor(() => CODE.exec(discord.sentMessages(dm.id)[0]?.content ?? '')?.[1], 10_000, 'the Discord pairing code');
    expect((await pair(daemon.workspace, 'approve', code)).output).toBe(`Approved discord user ${stranger} (mallory): their next message will be answered.\n`);
    discord.userSays({ channelId: dm.id, content: 'and now?' });
    await waitFor(() => discord.sentMessages(dm.id).some((m) => m.content === 'echo: and now?'), 10_000, 'the Discord answer');
    expect(llmSaw('hello from discord')).toBe(false);
    expect(existsSync(join(daemon.workspace, '.mybot', 'pairing.json'))).toBe(true);
  });
});
