import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { Daemon, PROJECT_ROOT } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

/** util-linux `script` gives the daemon a real terminal (a pty), as a person starting it has. */
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

describe('what a new operator notices first', () => {
  const dirs: string[] = [];
  const cleanups: Array<() => Promise<unknown> | void> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!HAS_SCRIPT)('the first-run questions on a terminal do not show the API key or a bot token as they are typed', { timeout: 60_000 }, async () => {
    const workspace = join(mkdtempSync(join(tmpdir(), 'mybot-wizard-')), 'ws');
    dirs.push(join(workspace, '..'));
    const command = `${process.execPath} --import tsx src/main.ts --workspace ${workspace}`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: PROJECT_ROOT, env: { ...process.env, NODE_ENV: 'test', OPENAI_API_KEY: '', TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    const answer = async (question: string, text: string) => {
      await waitFor(() => screen.includes(question), 20_000, `the question "${question}"`);
      child.stdin.write(`${text}\r`);
    };
    await answer('LLM endpoint', 'http://127.0.0.1:9/v1');
    await answer('Model [gpt-4o-mini]', 'visible-model-name');
    await answer('API key', 'sk-never-on-screen-1234');
    await answer('Telegram bot token', '123456:never-on-screen-token');
    await answer('Discord bot token', '');
    await waitFor(() => screen.includes('Wrote '), 20_000, 'the config written');
    const written = readFileSync(join(workspace, 'config.user.yaml'), 'utf8');
    expect(written).toContain('sk-never-on-screen-1234');
    expect(written).toContain('123456:never-on-screen-token');
    // what is typed shows, except the secrets
    expect(screen).toContain('visible-model-name');
    expect(screen).not.toContain('sk-never-on-screen');
    expect(screen).not.toContain('never-on-screen-token');
  });

  it('a fatal start-up error is printed once: one line on stderr, not again as a log line on stdout', async () => {
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    cleanups.push(() => telegram.close(), () => llm.close());
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-fatal-'));
    dirs.push(workspace);
    const config = { llm: { api_base: llm.url, model: 'fake' }, channels: { telegram: { enabled: true, bot_token: '999:not-the-token', api_root: telegram.apiRoot } } };
    writeFileSync(join(workspace, 'config.user.yaml'), stringify(config));
    // not spawnSync: the fake Telegram answering getMe lives in this process
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workspace', workspace], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NODE_ENV: 'test', OPENAI_API_KEY: '', TELEGRAM_BOT_TOKEN: '', MYBOT_LOG_FILE: '' },
    });
    cleanups.push(() => void child.kill('SIGKILL'));
    const run = { stdout: '', stderr: '', status: undefined as number | null | undefined };
    child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString('utf8')));
    run.status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(run.status).toBe(1);
    const fix = 'Telegram rejected the bot token';
    expect(run.stderr.split('\n').filter((line) => line.includes(fix))).toEqual([expect.stringMatching(/^mybot: Telegram rejected the bot token \(401 Unauthorized\): check channels\.telegram\.bot_token/)]);
    expect(run.stdout).not.toContain(fix);
    expect(`${run.stdout}${run.stderr}`).not.toContain('not-the-token');
  });

  it('a daemon with no channel enabled says so, and points to npm run chat and the README sections', async () => {
    const llm = await FakeOpenAI.start();
    cleanups.push(() => llm.close());
    const daemon = await Daemon.start({ config: { llm: { api_base: llm.url, model: 'fake' } } });
    cleanups.push(() => daemon.dispose());
    const warning = await daemon.waitForLog(/^no channel is enabled/);
    expect(warning.level).toBe(40);
    expect(warning.msg).toContain('npm run chat');
    expect(warning.msg).toMatch(/README sections "Telegram" and "Discord"/);
    // with a channel it says nothing of the kind
    const telegram = await FakeTelegram.start();
    cleanups.push(() => telegram.close());
    const withChannel = await Daemon.start({ config: { llm: { api_base: llm.url, model: 'fake' }, channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot } } } });
    cleanups.push(() => withChannel.dispose());
    expect(withChannel.hasLog(/^no channel is enabled/)).toBeUndefined();
  });
});
