import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const OWNER = 2001;
const FRIEND = 2002;

describe('daemon operations: config hot reload and status, against the fake Telegram and LLM', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  const config = (changes: { model?: string; allowed?: number[] } = {}) => ({
    llm: { api_base: llm.url, model: changes.model ?? 'model-a', max_retries: 0 },
    channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot, allowed_user_ids: changes.allowed ?? [OWNER] } },
  });
  const writeConfig = (text: string) => writeFileSync(join(daemon.workspace, 'config.user.yaml'), text);
  const reloads = () => daemon.lines.filter((l) => l.msg === 'config reloaded').length;
  const replies = (chatId: number) => telegram.botMessages(chatId);

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({ config: config() });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('adding a user to the allowlist takes effect for their next message, without a restart', async () => {
    telegram.userSays({ chatId: FRIEND, text: 'hello?' });
    await waitFor(() => daemon.hasLog(/not in channels\.telegram\.allowed_user_ids/), 10_000, 'the stranger to be turned away');
    expect(llm.requests.filter((r) => JSON.stringify(r.messages).includes('hello?'))).toHaveLength(0);

    const before = reloads();
    writeConfig(stringify(config({ allowed: [OWNER, FRIEND] })));
    await waitFor(() => reloads() > before, 10_000, 'the config to be reloaded');
    telegram.userSays({ chatId: FRIEND, text: 'now may I?' });
    await waitFor(() => replies(FRIEND).some((m) => m.text === 'echo: now may I?'), 10_000, 'the friend to be answered');
    expect(daemon.lines.filter((l) => l.msg === 'mybot is up')).toHaveLength(1);
  });

  it('a broken edit is rejected with its file and key, and the running config keeps answering', async () => {
    const rejected = () => daemon.lines.filter((l) => l.msg === 'config change rejected; keeping the running config');
    writeConfig(`${stringify(config({ allowed: [OWNER, FRIEND] }))}\nllm_typo: {}\n`);
    const line = await waitFor(() => rejected()[0], 10_000, 'the rejection');
    expect(line).toMatchObject({ file: join(daemon.workspace, 'config.user.yaml'), key: 'llm_typo' });
    writeConfig('llm: {model: [unclosed\n');
    await waitFor(() => rejected().length === 2, 10_000, 'the second rejection');
    expect(rejected()[1]!.reason).toMatch(/invalid YAML \(line \d+/);

    telegram.userSays({ chatId: OWNER, text: 'still there?' });
    await waitFor(() => replies(OWNER).some((m) => m.text === 'echo: still there?'), 10_000, 'an answer with the old config');
    expect(llm.requests.at(-1)!.model).toBe('model-a');
  });

  it('a changed model reaches the LLM with the next message', async () => {
    const before = reloads();
    writeConfig(stringify(config({ model: 'model-b', allowed: [OWNER, FRIEND] })));
    await waitFor(() => reloads() > before, 10_000, 'the config to be reloaded');
    telegram.userSays({ chatId: OWNER, text: 'which model?' });
    await waitFor(() => replies(OWNER).some((m) => m.text === 'echo: which model?'), 10_000, 'the answer');
    expect(llm.requests.find((r) => r.messages.at(-1)?.content === 'which model?')!.model).toBe('model-b');
  });

  it('npm run status shows the connected channel, the queue depth and the replies waiting', async () => {
    const status = await waitFor(() => {
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', daemon.workspace], { cwd: PROJECT_ROOT, encoding: 'utf8' });
      // the daemon rewrites its status every 2 s
      return result.status === 0 && result.stdout.includes('telegram: connected') && /sessions active in the last hour: [1-9]/.test(result.stdout) && result.stdout;
    }, 10_000, 'a status report with a connected channel');
    expect(status).toMatch(/mybot is running \(pid \d+\), up \d+/);
    expect(status).toMatch(/bus queue depth: 0; unacknowledged events: \d+/);
    expect(status).toMatch(/replies waiting for delivery: 0/);
    expect(status).toMatch(/sessions active in the last hour: [1-9]/);
  });

  it('npm run status says so when no daemon runs on the workspace', async () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'status', '--workspace', join(daemon.workspace, 'nothing-here')], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(result.status).toBe(3);
    expect(result.stdout.trim()).toBe('mybot is not running on this workspace.');
  });
});
