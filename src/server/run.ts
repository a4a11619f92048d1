import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalChannel } from '../channels/terminal.ts';
import { askForConfig } from '../config/first-run.ts';
import { loadConfig, secretsOf, USER_CONFIG } from '../config/load.ts';
import { prepareWorkspace } from '../config/workspace.ts';
import { MybotError } from '../core/errors.ts';
import { flushLog, log, redactSecrets, registerSecret } from '../log.ts';
import { App } from './app.ts';
import { HEAP_EXIT_CODE } from './memory-watchdog.ts';

export interface RunOptions {
  workspace: string;
  chat: boolean;
  /** server.role for this process (--role, MYBOT_ROLE), over the config file's. */
  role?: 'all' | 'gateway' | 'agent';
  interactive: boolean;
  /** The one line printed when there is no config and nobody to ask. */
  hint: () => string;
}

/** Loads the config, starts the app, tells pm2 it is ready, and stops gracefully on a signal. */
export async function run(options: RunOptions): Promise<void> {
  const { workspace, chat } = options;
  let app: App | undefined;
  let stopping = false;
  /** A stop asked for while the app starts waits for the start to finish, so it stops what started. */
  let starting = true;
  let stopAsked: string | undefined;
  // a daemon with no channel enabled has nothing else keeping the event loop alive
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    prepareWorkspace(workspace);
    if (!existsSync(join(workspace, USER_CONFIG))) {
      if (!options.interactive) return await fatal(options.hint());
      await askForConfig(join(workspace, USER_CONFIG));
    }
    const config = loadConfig(workspace);
    if (options.role) config.server.role = options.role;
    // the terminal chat is one process of its own, on an in-memory bus, whatever the deployment runs
    if (chat) config.server.role = 'all';
    if (config.server.role !== 'all' && config.bus.backend !== 'redis') {
      return await fatal(`mybot: the role ${config.server.role} (server.role, --role or MYBOT_ROLE) needs bus.backend: redis in ${join(workspace, USER_CONFIG)}; with the local bus, run role all`);
    }
    for (const secret of secretsOf(config)) registerSecret(secret);
    if (chat) {
      config.channels.telegram.enabled = false;
      config.channels.discord.enabled = false;
    }
    // before the start: a signal that comes while channels connect must not kill the process outright
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
    // pm2 on Windows, and pm2 with shutdown_with_message, asks this way instead of a signal
    process.on('message', (message) => {
      if (message === 'shutdown') void shutdown('pm2 shutdown message');
    });
    app = await App.start({
      workspace,
      config,
      log,
      ephemeral: chat,
      onFatal: (err) => void shutdown('a worker failed for good', `mybot: ${err instanceof Error ? err.message : String(err)}`),
      onHeapLimit: () => void shutdown('heap above server.max_heap_mb', undefined, HEAP_EXIT_CODE),
      ...(chat ? { extraChannels: (publish) => [new TerminalChannel(publish, process.stdin, process.stdout, () => void shutdown('end of input'))] } : {}),
    });
  } catch (err) {
    if (err instanceof MybotError) return await fatal(`mybot: ${err.message}`);
    return await fatal(`mybot failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, err);
  }
  starting = false;
  if (stopAsked) return void shutdown(stopAsked);
  process.send?.('ready');

  /** With `failure`, the daemon exits 1 after the graceful stop, saying what to fix in that one line; else with `exitCode`. */
  async function shutdown(reason: string, failure?: string, exitCode = 0): Promise<void> {
    if (starting && !failure && stopAsked === undefined) {
      stopAsked = reason;
      log.info({ reason }, 'stop asked while starting: stopping once the start is done');
      return;
    }
    if (stopping || (starting && stopAsked !== undefined)) {
      log.warn({ reason }, 'second signal: exiting now; unfinished work stays in the journal');
      await flushLog();
      process.exit(1);
    }
    stopping = true;
    clearInterval(keepAlive);
    log.info({ reason }, 'stopping: finishing replies in flight');
    try {
      await app?.stop();
      log.info('stopped');
    } catch (err) {
      log.error({ err }, 'error while stopping');
    }
    if (failure) return await fatal(failure);
    await flushLog();
    process.exit(exitCode);
  }
}

/**
 * Says what to fix once, on stderr (a terminal shows it, pm2 keeps it in its error log), and exits
 * non-zero. The log gets it too only when it goes to a file of its own: on a terminal or under pm2
 * the log is stdout, and the same line twice reads as two failures.
 */
async function fatal(line: string, err?: unknown): Promise<void> {
  process.stderr.write(`${redactSecrets(line)}\n`);
  if (process.env.MYBOT_LOG_FILE) log.fatal(err === undefined ? {} : { err }, line);
  await flushLog();
  process.exit(1);
}
