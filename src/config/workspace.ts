import { accessSync, chmodSync, constants, cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_WORKSPACE = join(PROJECT_ROOT, 'default_workspace');

/** What the daemon keeps in a workspace besides the user's files. */
export function workspacePaths(workspace: string) {
  const state = join(workspace, '.mybot');
  return {
    state,
    journal: join(state, 'journal.jsonl'),
    /** Replies given up on for good, with the platform's reason. */
    deadLetters: join(state, 'dead-letters.jsonl'),
    pidFile: join(state, 'daemon.pid'),
    statusFile: join(state, 'status.json'),
    /** Pairing codes waiting for an owner, and the users they approved. */
    pairing: join(state, 'pairing.json'),
    /** Messages, tokens and cost per user and chat today, for limits and /usage. */
    usage: join(state, 'usage.json'),
    discordCursors: join(state, 'discord-cursors.json'),
    /** The jobs the agent scheduled, and how far every job got. */
    schedules: join(state, 'schedules.json'),
    sessions: join(workspace, 'sessions'),
    agentPrompt: join(workspace, 'AGENT.md'),
  };
}

/** `--workspace DIR` wins over MYBOT_WORKSPACE, which wins over the project's default_workspace/. */
export function resolveWorkspace(argv: string[], env: NodeJS.ProcessEnv): string {
  const flag = argv.findIndex((a) => a === '--workspace' || a.startsWith('--workspace='));
  if (flag >= 0) {
    const arg = argv[flag]!;
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[flag + 1];
    if (!value) throw new ConfigError('--workspace needs a directory: --workspace /path/to/workspace');
    return resolve(value);
  }
  return env.MYBOT_WORKSPACE ? resolve(env.MYBOT_WORKSPACE) : DEFAULT_WORKSPACE;
}

/** Creates a workspace that does not exist yet from default_workspace's templates; checks it is writable. */
export function prepareWorkspace(workspace: string): void {
  const paths = workspacePaths(workspace);
  try {
    if (!existsSync(workspace) || readdirSync(workspace).length === 0) {
      mkdirSync(workspace, { recursive: true });
      for (const entry of readdirSync(DEFAULT_WORKSPACE)) {
        if (isTemplate(entry)) cpSync(join(DEFAULT_WORKSPACE, entry), join(workspace, entry), { recursive: true });
      }
    }
    mkdirSync(paths.state, { recursive: true, mode: 0o700 });
    mkdirSync(paths.sessions, { recursive: true, mode: 0o700 });
    // owner only, also when they were made by hand or by an older version: they hold every conversation
    chmodSync(paths.state, 0o700);
    chmodSync(paths.sessions, 0o700);
    accessSync(paths.state, constants.W_OK);
  } catch (err) {
    throw new ConfigError(`workspace ${workspace} is not writable (${(err as NodeJS.ErrnoException).code}): fix its permissions or choose another with --workspace`);
  }
}

/** Templates are what default_workspace ships in git; never the user's config, the daemon's state, what it remembers or an owner's jobs. */
function isTemplate(entry: string): boolean {
  return !['config.user.yaml', 'config.runtime.yaml', '.mybot', 'sessions', 'logs', 'inbox', 'MEMORY.md', 'memory', 'schedules'].includes(entry);
}
