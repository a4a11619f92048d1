import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REFUSAL_TEXT } from '../../src/channels/access.ts';
import { filesUnder, findSecrets } from '../chaos/secrets.ts';
import { FakeDiscord } from '../fakes/discord.ts';
import { FakeOpenAI, type FakeReply, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 9001;
const STRANGER = 9666;
const GROUP = -1_009_000_000_001;
const API_KEY = 'sk-security-SECRET-key-0123456789abcdef';
const SECRETS = { telegram: '9000000001:AAsecuritySECRETtelegram0123456789', discord: 'security-SECRET-discord-token.abcdef', llm: API_KEY };

/** The model tries what an injected prompt would make it try: leave the workspace, read secrets and others' chats, run a shell. */
function hostileModel(req: FakeRequest): FakeReply {
  const user = String([...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '');
  if (user === 'exfiltrate' && req.messages.at(-1)?.role === 'user') {
    const read = (path: string, i: number) => ({ id: `r${i}`, name: 'read_file', arguments: JSON.stringify({ path }) });
    return {
      toolCalls: [
        ...['config.user.yaml', '../../../etc/passwd', '/etc/passwd', '.mybot/journal.jsonl', `sessions/telegram%3a${OWNER}.jsonl`, 'logs/chat.log', 'x\u0000.txt'].map(read),
        { id: 'b1', name: 'bash', arguments: JSON.stringify({ command: 'touch pwned; cat config.user.yaml' }) },
      ],
    };
  }
  return { content: `echo: ${user}` };
}

/**
 * What the daemon promises in SECURITY.md, checked against the real daemon: strangers cost nothing
 * and get nothing, secrets never leave, the model stays in its workspace, state is owner-only,
 * and there is no shell unless the owner turns it on.
 */
describe('security guarantees', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  let ownerDiscordId: string;
  const llmSaw = (text: string) => llm.requests.some((r) => JSON.stringify(r.messages).includes(text));

  beforeAll(async () => {
    [telegram, discord, llm] = await Promise.all([
      FakeTelegram.start({ token: SECRETS.telegram }),
      FakeDiscord.start({ token: SECRETS.discord, heartbeatIntervalMs: 1_000 }),
      FakeOpenAI.start(),
    ]);
    llm.setResponder(hostileModel);
    ownerDiscordId = discord.user.id;
    daemon = await Daemon.start({
      config: {
        llm: { api_base: llm.url, model: 'fake', api_key: API_KEY, max_retries: 0 },
        channels: {
          telegram: { enabled: true, bot_token: SECRETS.telegram, api_root: telegram.apiRoot, allowed_user_ids: [OWNER] },
          discord: { enabled: true, bot_token: SECRETS.discord, api_base: discord.apiBase, allowed_user_ids: [ownerDiscordId] },
        },
      },
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), discord?.close(), llm?.close()]);
  });

  it('Telegram: a stranger costs 0 LLM calls and gets nothing the agent wrote: in private, in a group, by replying to the bot, by a command, by an edit', async () => {
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: OWNER, mention: true, text: 'owner in the group' });
    const [ownerReply] = await waitFor(() => telegram.botMessages(GROUP).length === 1 && telegram.botMessages(GROUP), 10_000, 'the owner answered');
    const first = telegram.userSays({ chatId: STRANGER, text: 'stranger secret 1' });
    telegram.userSays({ chatId: STRANGER, text: 'stranger secret 2' });
    telegram.userSays({ chatId: STRANGER, messageId: first.message_id, edited: true, text: 'stranger secret 3 (edited)' });
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: STRANGER, mention: true, text: 'stranger secret 4' });
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: STRANGER, replyToMessage: ownerReply, text: 'stranger secret 5' });
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: STRANGER, text: `/session@${telegram.bot.username}` });
    telegram.userSays({ chatId: GROUP, chatType: 'supergroup', userId: OWNER, mention: true, text: 'owner again' });
    await waitFor(() => telegram.botMessages(GROUP).length === 2, 10_000, 'the owner answered again');
    expect(telegram.botMessages(STRANGER).map((m) => m.text)).toEqual([REFUSAL_TEXT]);
    expect(telegram.botMessages(GROUP).map((m) => m.text)).toEqual(['echo: owner in the group', 'echo: owner again']);
    expect(llmSaw('stranger secret')).toBe(false);
    expect(llm.requests.filter((r) => JSON.stringify(r.messages).includes('session'))).toEqual([]);
  });

  it('Discord: a stranger costs 0 LLM calls and gets only the fixed refusal: in a DM, by a mention, by replying to the bot, by an edit', async () => {
    const stranger = discord.nextId();
    const dm = discord.dmChannelFor(stranger, 'mallory');
    const owner = discord.userSays({ content: 'owner here', mentionBot: true });
    await waitFor(() => discord.sentMessages(discord.textChannelId).length === 1, 10_000, 'the owner answered');
    const botReply = discord.sentMessages(discord.textChannelId)[0]!;
    const sent = discord.userSays({ channelId: dm.id, content: 'stranger secret 6' });
    discord.announceEdit({ ...sent, content: 'stranger secret 7 (edited)' });
    discord.userSays({ userId: stranger, content: 'stranger secret 8', mentionBot: true });
    discord.userSays({ userId: stranger, content: 'stranger secret 9', replyToMessageId: botReply.id });
    discord.userSays({ content: 'owner again', mentionBot: true });
    await waitFor(() => discord.sentMessages(discord.textChannelId).some((m) => m.content === 'echo: owner again'), 10_000, 'the owner answered again');
    const toStranger = [...discord.sentMessages(dm.id), ...discord.sentMessages(discord.textChannelId).filter((m) => m.message_reference?.message_id !== owner.id && !m.content.startsWith('echo: owner'))];
    expect(toStranger.map((m) => m.content)).toEqual([REFUSAL_TEXT]); // one refusal per stranger, whatever the channel
    expect(llmSaw('stranger secret')).toBe(false);
  });

  it('the model cannot leave the workspace, read the config, the journal, the logs or other chats, nor run a shell that is off', async () => {
    telegram.userSays({ chatId: OWNER, text: 'exfiltrate' });
    await waitFor(() => llm.requests.some((r) => r.messages.at(-1)?.role === 'tool'), 10_000, 'the tool results');
    const results = llm.requests.find((r) => r.messages.at(-1)?.role === 'tool')!.messages.filter((m: { role: string }) => m.role === 'tool');
    expect(results).toHaveLength(8);
    for (const result of results) expect(result.content).toMatch(/^Error: /);
    expect(results.at(-1)!.content).toMatch(/^Error: there is no tool named 'bash'/);
    expect(llm.requests[0]!.body.tools.map((t: { function: { name: string } }) => t.function.name)).not.toContain('bash');
    expect(readdirSync(daemon.workspace)).not.toContain('pwned');
    expect(JSON.stringify(results)).not.toContain('root:x:0:0');
  });

  it('journal, sessions, status and pid files are owner-only, even where the folders were made with looser modes', async () => {
    const mode = (path: string) => (statSync(join(daemon.workspace, path)).mode & 0o777).toString(8);
    await waitFor(() => readdirSync(join(daemon.workspace, 'sessions')).length > 0, 10_000, 'a session file');
    expect(mode('.mybot')).toBe('700');
    expect(mode('sessions')).toBe('700');
    for (const file of ['.mybot/journal.jsonl', '.mybot/daemon.pid', '.mybot/status.json', ...readdirSync(join(daemon.workspace, 'sessions')).map((f) => `sessions/${f}`)]) {
      expect(`${file} ${mode(file)}`).toBe(`${file} 600`);
    }
    // a workspace whose folders someone made world-readable is tightened at the next start
    const loose = Daemon.spawn({ config: { llm: { api_base: llm.url } }, files: {} });
    await loose.ready();
    await loose.kill('SIGTERM');
    chmodSync(join(loose.workspace, '.mybot'), 0o755);
    chmodSync(join(loose.workspace, 'sessions'), 0o777);
    const again = await Daemon.start({ config: { llm: { api_base: llm.url } }, workspace: loose.workspace });
    expect((statSync(join(loose.workspace, '.mybot')).mode & 0o777).toString(8)).toBe('700');
    expect((statSync(join(loose.workspace, 'sessions')).mode & 0o777).toString(8)).toBe('700');
    await again.dispose();
  });

  it('no token or API key in the logs, the workspace files or anything the bot sent', async () => {
    // errors that carry secrets: the LLM echoing the key, and platform failures
    llm.failNext(1, { fault: 'status', status: 401, message: `Incorrect API key provided: ${API_KEY}` });
    telegram.userSays({ chatId: OWNER, text: 'make it fail' });
    await waitFor(() => telegram.botMessages(OWNER).some((m) => /did not accept the bot's API key/.test(m.text ?? '')), 10_000, 'the error reply');
    telegram.failNext('sendMessage', 1, { kind: 'drop' });
    discord.failNextRest({ method: 'POST', path: /messages$/ }, 1, { kind: 'drop' });
    telegram.userSays({ chatId: OWNER, text: 'after a dropped send' });
    discord.userSays({ content: 'after a dropped send', mentionBot: true });
    await waitFor(() => telegram.botMessages(OWNER).some((m) => m.text === 'echo: after a dropped send'), 15_000, 'the Telegram retry');
    await waitFor(() => discord.sentMessages().some((m) => m.content === 'echo: after a dropped send'), 15_000, 'the Discord retry');
    const texts = {
      'daemon output': daemon.output,
      ...filesUnder(daemon.workspace, (path) => /config\.[^/]*\.yaml$/.test(path)),
      'Telegram bot messages': telegram.botMessages().map((m) => m.text).join('\n'),
      'Discord bot messages': discord.sentMessages().map((m) => m.content).join('\n'),
      'LLM requests': JSON.stringify(llm.requests.map((r) => r.messages)),
    };
    expect(findSecrets(SECRETS, texts)).toEqual([]);
    expect(daemon.output).toContain('[REDACTED]'); // the key was there to leak, and was caught
  });
});

describe('the bash tool', () => {
  it('is offered to the model only when tools.bash.enabled is true', async () => {
    const llm = await FakeOpenAI.start();
    const { chat, workspaceWith } = await import('../helpers/chat.ts');
    try {
      const names = () => llm.requests.at(-1)!.body.tools.map((t: { function: { name: string } }) => t.function.name);
      const off = workspaceWith({ llm: { api_base: llm.url, max_retries: 0 } });
      await chat(off, ['hello']);
      expect(names()).not.toContain('bash');
      const on = workspaceWith({ llm: { api_base: llm.url, max_retries: 0 }, tools: { bash: { enabled: true } } });
      await chat(on, ['hello']);
      expect(names()).toContain('bash');
      for (const workspace of [off, on]) rmSync(workspace, { recursive: true, force: true });
    } finally {
      await llm.close();
    }
  });
});
