import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { waitFor } from './wait.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface DaemonOptions {
  /** Written to config.user.yaml. */
  config: Record<string, unknown>;
  /** Extra files to write into the workspace (path → content) before the start. */
  files?: Record<string, string>;
  env?: Record<string, string>;
  /** Reuse a workspace (a restart); by default a fresh temp directory. */
  workspace?: string;
  /** Extra command-line arguments for src/main.ts. */
  args?: string[];
  /** The script to run instead of src/main.ts (relative to the project root), e.g. a benchmark's variant. */
  entry?: string;
  /** Node options before the script, e.g. a test preload (`--import ./test/helpers/clock-preload.ts`). */
  nodeArgs?: string[];
}

/**
 * The real daemon as a child process (`node --import tsx src/main.ts --workspace DIR`), exactly
 * as `npm start` runs it, with its JSON log lines collected for assertions.
 */
export class Daemon {
  readonly lines: LogLine[] = [];
  output = '';
  exitCode: number | null | undefined;
  readonly spawnedAt = Date.now();
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly workspace: string,
    readonly child: ChildProcess,
  ) {
    const collector = () => {
      let partial = '';
      return (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        this.output += chunk.toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          if (!line.startsWith('{')) continue;
          try {
            this.lines.push(JSON.parse(line) as LogLine);
          } catch {
            // not a log line; the raw text is still in `output`
          }
        }
      };
    };
    child.stdout!.on('data', collector());
    child.stderr!.on('data', collector());
    // 'close', not 'exit': only then has everything the process wrote been read
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve((this.exitCode = code))));
  }

  /** Writes the workspace and starts the daemon; does not wait for it to be up (see `ready`). */
  static spawn(options: DaemonOptions): Daemon {
    const workspace = options.workspace ?? mkdtempSync(join(tmpdir(), 'mybot-e2e-'));
    writeFileSync(join(workspace, 'config.user.yaml'), stringify(options.config));
    // as in a workspace created from the templates
    if (!existsSync(join(workspace, 'AGENT.md'))) copyFileSync(join(PROJECT_ROOT, 'default_workspace', 'AGENT.md'), join(workspace, 'AGENT.md'));
    for (const [path, content] of Object.entries(options.files ?? {})) {
      mkdirSync(dirname(join(workspace, path)), { recursive: true });
      writeFileSync(join(workspace, path), content);
    }
    const child = spawn(process.execPath, ['--import', 'tsx', ...(options.nodeArgs ?? []), options.entry ?? 'src/main.ts', '--workspace', workspace, ...(options.args ?? [])], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, NODE_ENV: 'test', MYBOT_LOG_LEVEL: 'debug', OPENAI_API_KEY: '', TELEGRAM_BOT_TOKEN: '', DISCORD_BOT_TOKEN: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Daemon(workspace, child);
  }

  /** Starts the daemon and waits until it logs that it is up. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const daemon = Daemon.spawn(options);
    await daemon.ready();
    return daemon;
  }

  async ready(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.hasLog('mybot is up') || this.exitCode !== undefined, timeoutMs, 'the daemon to be up');
    if (this.exitCode !== undefined) throw new Error(`the daemon exited with ${this.exitCode}:\n${this.output}`);
  }

  hasLog(msg: string | RegExp, where: (line: LogLine) => boolean = () => true): LogLine | undefined {
    return this.lines.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)) && where(l));
  }

  async waitForLog(msg: string | RegExp, where?: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return waitFor(() => this.hasLog(msg, where), timeoutMs, `log line ${String(msg)}`);
  }

  /** Resolves with the exit code once the process is gone. */
  waitForExit(timeoutMs = 20_000): Promise<number | null> {
    return Promise.race([this.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`daemon still running after ${timeoutMs} ms`)), timeoutMs).unref())]);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill(signal);
    return this.waitForExit();
  }

  /** Removes the temp workspace after the process is gone. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.workspace, { recursive: true, force: true });
  }
}
