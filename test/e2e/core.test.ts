import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOpenAI } from '../fakes/openai.ts';
import { chat, workspaceWith } from '../helpers/chat.ts';
import { waitFor } from '../helpers/wait.ts';
import { OPEN_ACCESS } from '../helpers/config.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { spawnSync } from 'node:child_process';

const API_KEY = 'sk-e2e-SECRET-0123456789abcdefghijklmnop';

describe('the daemon and the terminal chat against a fake LLM', () => {
  let llm: FakeOpenAI;
  const config = () => ({ llm: { api_base: llm.url, model: 'fake-model', api_key: API_KEY, max_retries: 0 }, agent: { retry_backoff_ms: 10 } });

  beforeAll(async () => {
    llm = await FakeOpenAI.start();
  });
  afterAll(async () => {
    await llm.close();
  });
  beforeEach(() => {
    llm.requests.length = 0;
  });

  it('npm start runs the daemon on a workspace, and SIGTERM stops it with exit code 0', async () => {
    const daemon = await Daemon.start({ config: config() });
    expect(daemon.hasLog('mybot is up')).toMatchObject({ model: 'fake-model' });
    expect(await daemon.kill('SIGTERM')).toBe(0);
    expect(daemon.hasLog('stopped')).toBeTruthy();
    await daemon.dispose();
  });

  it('npm run chat answers in the terminal through the bus and the LLM', async () => {
    const { output, code } = await chat(workspaceWith(config()), ['hello there']);
    expect(output).toContain('bot> echo: hello there');
    expect(code).toBe(0);
    expect(llm.requests[0]!.model).toBe('fake-model');
    expect(llm.requests[0]!.messages[0]).toMatchObject({ role: 'system' });
  });

  it('npm run chat on the workspace of a deployment (bus on Redis, role agent) answers on its own, without Redis', async () => {
    // nothing listens on port 1: the chat must not need the deployment's Redis
    const workspace = workspaceWith({ ...config(), bus: { backend: 'redis', redis_url: 'redis://127.0.0.1:1' }, server: { role: 'agent' } });
    const { output, code } = await chat(workspace, ['hello deployment']);
    expect(output).toContain('bot> echo: hello deployment');
    expect(code).toBe(0);
  });

  it('runs the tool loop: a tool call, its result reaching the model, then the final answer', async () => {
    const workspace = workspaceWith(config());
    llm.enqueue(
      { toolCalls: [{ id: 'call_1', name: 'write_file', arguments: JSON.stringify({ path: 'notes/todo.txt', content: 'buy milk' }) }] },
      { toolCalls: [{ id: 'call_2', name: 'read_file', arguments: JSON.stringify({ path: '../../etc/passwd' }) }] },
      { content: 'Saved your note.' },
    );
    const { output } = await chat(workspace, ['note: buy milk']);
    expect(output).toContain('bot> Saved your note.');
    expect(readFileSync(join(workspace, 'notes/todo.txt'), 'utf8')).toBe('buy milk');
    expect(llm.requests).toHaveLength(3);
    const second = llm.requests[1]!.messages;
    expect(second.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'write_file' } }] });
    expect(second.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_1', content: 'wrote 8 characters to notes/todo.txt' });
    // the escape attempt is refused, and the model is told so
    expect(llm.requests[2]!.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_2', content: expect.stringMatching(/^Error: .*outside the workspace/) });
  });

  it('retries a failing LLM, then tells the user in a short message instead of silence', async () => {
    llm.failNext(4, { fault: 'status', status: 503, message: 'overloaded' });
    const { output } = await chat(workspaceWith(config()), ['are you there?']);
    expect(llm.requests).toHaveLength(4); // the first try and 3 retries
    expect(output).toContain("bot> Sorry, I couldn't reach my language model just now. Please try again in a minute.");
    expect(output).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a transient failure followed by success is answered normally', async () => {
    llm.failNext(1, { fault: 'drop' });
    const { output } = await chat(workspaceWith(config()), ['second try']);
    expect(output).toContain('bot> echo: second try');
    expect(llm.requests).toHaveLength(2);
  });

  it('resumes the session after a restart: the next request carries the earlier turn', async () => {
    const workspace = workspaceWith(config());
    await chat(workspace, ['my name is Ada']);
    llm.requests.length = 0;
    const { output } = await chat(workspace, ['/session', 'what is my name?']);
    expect(output).toContain('Messages: 2');
    const messages = llm.requests[0]!.messages.map((m: { content: string }) => m.content);
    expect(messages).toEqual([expect.any(String), 'my name is Ada', 'echo: my name is Ada', 'what is my name?']);
  });

  it('many turns in one process leak no abort listeners (the SDK keeps one per signal it is given)', async () => {
    const lines = Array.from({ length: 15 }, (_, i) => `message ${i}`);
    const { output } = await chat(workspaceWith(config()), lines);
    expect(output).toContain('bot> echo: message 14');
    expect(output).not.toContain('MaxListenersExceededWarning');
  });

  it('/help and /clear are answered without the LLM; an unknown /x goes to the model', async () => {
    const workspace = workspaceWith(config());
    const { output } = await chat(workspace, ['remember this', '/help', '/clear', '/session', '/weather today']);
    expect(output).toContain('/clear — Start a fresh conversation');
    expect(output).toContain('Started a fresh conversation');
    expect(output).toContain('Messages: 0');
    expect(output).toContain('bot> echo: /weather today');
    expect(llm.requests).toHaveLength(2);
  });

  it('keeps secrets out of logs, output and session files, even when the LLM rejects the key', async () => {
    const workspace = workspaceWith(config());
    llm.failNext(1, { fault: 'status', status: 401, message: `Incorrect API key provided: ${API_KEY}` });
    const { output } = await chat(workspace, ['hi', 'hi again']);
    expect(output).toContain('did not accept the bot\'s API key');
    expect(output).toContain('bot> echo: hi again');
    const daemon = await Daemon.start({ config: config(), workspace });
    await daemon.kill('SIGTERM');
    const files = [join(workspace, 'logs', 'chat.log'), ...readdirSync(join(workspace, 'sessions')).map((f) => join(workspace, 'sessions', f))];
    expect(files.length).toBeGreaterThan(1);
    for (const file of files) expect(readFileSync(file, 'utf8')).not.toContain(API_KEY);
    expect(output + daemon.output).not.toContain(API_KEY);
    expect(readFileSync(join(workspace, 'logs', 'chat.log'), 'utf8')).toContain('the LLM answered HTTP 401');
  });
});

describe('start-up errors: one line saying what to fix, non-zero exit, before anything connects', () => {
  it.each([
    ['an unknown key', { llm: { api_base: 'http://127.0.0.1:9/v1' }, chanels: {} }, /config\.user\.yaml: \(top level\): unknown key 'chanels'/],
    ['a wrong type', { llm: { api_base: 'http://127.0.0.1:9/v1', timeout_s: 'soon' } }, /config\.user\.yaml: llm\.timeout_s: .*expected number/],
    ['a missing token', { llm: { api_base: 'http://127.0.0.1:9/v1' }, channels: { telegram: { enabled: true } } }, /channels\.telegram\.bot_token is missing/],
  ])('%s', async (_name, config, message) => {
    const daemon = Daemon.spawn({ config });
    expect(await daemon.waitForExit()).toBe(1);
    const stderrLine = daemon.output.split('\n').find((l) => l.startsWith('mybot: '));
    expect(stderrLine).toMatch(message);
    expect(daemon.hasLog('mybot is up')).toBeUndefined();
    await daemon.dispose();
  });

  it('a new workspace (MYBOT_WORKSPACE) is created from the templates; without a terminal the daemon names the file to create', () => {
    const workspace = join(mkdtempSync(join(tmpdir(), 'mybot-new-')), 'fresh');
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, MYBOT_WORKSPACE: workspace, NODE_ENV: 'test' },
      encoding: 'utf8',
      input: '',
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `mybot: no ${join(workspace, 'config.user.yaml')}: create it from ${join(workspace, 'config.example.yaml')} (cp ${join(workspace, 'config.example.yaml')} ${join(workspace, 'config.user.yaml')}) and set llm.* and the channels you want`,
    ]);
    expect(readdirSync(workspace).sort()).toEqual(expect.arrayContaining(['AGENT.md', 'config.example.yaml', 'sessions', '.mybot']));
    rmSync(workspace, { recursive: true, force: true });
  });
});

describe('stopping', () => {
  it('a workspace that cannot be created exits with one line', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workspace', '/dev/null/workspace'], { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test' } });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toMatch(/^mybot: workspace \/dev\/null\/workspace is not writable \(ENOTDIR\): fix its permissions or choose another with --workspace$/);
  });

  it('a SIGTERM while the channels are still connecting stops the daemon cleanly once they are up', async () => {
    const llm = await FakeOpenAI.start();
    const { FakeTelegram } = await import('../fakes/telegram.ts');
    const telegram = await FakeTelegram.start();
    // the start logs a warning, then waits 3 s (Telegram's retry_after) before polling
    telegram.failNext('setMyCommands', 1, { kind: 'parse-entities' });
    telegram.failNext('deleteWebhook', 1, { kind: '429', retryAfter: 3 });
    const daemon = Daemon.spawn({ config: { llm: { api_base: llm.url, model: 'm', max_retries: 0 }, channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } } } });
    try {
      await daemon.waitForLog('could not set the commands menu; continuing without it');
      daemon.child.kill('SIGTERM');
      expect(await daemon.waitForExit()).toBe(0);
      expect(daemon.hasLog('stop asked while starting: stopping once the start is done')).toBeTruthy();
      expect(daemon.hasLog('stopped')).toBeTruthy();
    } finally {
      await daemon.dispose();
      await Promise.all([telegram.close(), llm.close()]);
    }
  });

  it('a second signal exits at once, and the turn it cut short is answered after the next start', async () => {
    const llm = await FakeOpenAI.start();
    const { FakeTelegram } = await import('../fakes/telegram.ts');
    const telegram = await FakeTelegram.start();
    const config = { llm: { api_base: llm.url, model: 'm', max_retries: 0 }, channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, ...OPEN_ACCESS } }, server: { drain_timeout_s: 30 } };
    try {
      const daemon = await Daemon.start({ config });
      llm.setLatency(20_000);
      telegram.userSays({ chatId: 42, text: 'take your time' });
      await llm.waitForRequests(1);
      daemon.child.kill('SIGTERM');
      await daemon.waitForLog('stopping: finishing replies in flight');
      const second = Date.now();
      daemon.child.kill('SIGTERM');
      expect(await daemon.waitForExit()).toBe(1);
      expect(Date.now() - second).toBeLessThan(5000);
      expect(telegram.botMessages(42)).toHaveLength(0);

      llm.setLatency(0);
      const again = await Daemon.start({ config, workspace: daemon.workspace });
      await waitFor(() => telegram.botMessages(42).length === 1, 10_000, 'the reply after the restart');
      expect(telegram.botMessages(42)[0]!.text).toBe('echo: take your time');
      await again.dispose();
    } finally {
      await Promise.all([llm.close(), telegram.close()]);
    }
  });
});
