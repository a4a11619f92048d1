import { watch, type FSWatcher } from 'node:fs';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../log.ts';
import { loadConfig, RUNTIME_CONFIG, USER_CONFIG } from './load.ts';
import type { Config } from './schema.ts';

const SETTLE_MS = 150;

/**
 * Watches config.user.yaml and config.runtime.yaml and hands a valid new config to `apply`.
 * An invalid edit is logged with its file and key, and the running config stays as it was.
 * The folder is watched, not the files: editors and our own atomic writes replace a file by
 * renaming, which a watch on the old file would miss.
 */
export class ConfigWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private reloading: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly workspace: string,
    private readonly apply: (config: Config) => Promise<void>,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  start(): void {
    this.watcher = watch(this.workspace, (_event, file) => {
      if (file !== USER_CONFIG && file !== RUNTIME_CONFIG) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => (this.reloading = this.reloading.then(() => this.reload())), SETTLE_MS);
    });
    this.watcher.on('error', (err) => this.log.warn({ err }, 'config watch failed; edits need a restart'));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** Reloads now; resolves false (and logs why) when the files on disk are not a valid config. */
  async reload(): Promise<boolean> {
    let config: Config;
    try {
      config = loadConfig(this.workspace, this.env);
    } catch (err) {
      // whatever went wrong with the new file, the running daemon keeps its config (a throw here would crash it)
      if (err instanceof ConfigError) this.log.error({ file: err.file, key: err.key, reason: err.message }, 'config change rejected; keeping the running config');
      else this.log.error({ err }, 'config change could not be read; keeping the running config');
      return false;
    }
    await this.apply(config);
    this.log.info({ model: config.llm.model }, 'config reloaded');
    return true;
  }
}
