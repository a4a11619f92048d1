import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigWatcher } from '../../../src/config/watch.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { PROJECT_ROOT } from '../../helpers/daemon.ts';
import { memoryLogger } from '../../helpers/log.ts';

interface CorpusConfig {
  file: string;
  /** A regex the message must match after `<path>: `; null when the file is valid. */
  error: string | null;
  as?: 'runtime';
}

const CORPUS = join(PROJECT_ROOT, 'test', 'corpus');
const CONFIGS: CorpusConfig[] = JSON.parse(readFileSync(join(CORPUS, 'configs.json'), 'utf8')).configs;
const VALID_USER = 'llm:\n  api_base: "http://127.0.0.1:9/v1"\n';

/** A temp workspace holding the corpus file as config.user.yaml (or as config.runtime.yaml over a valid one). */
function workspaceFor(entry: CorpusConfig): { workspace: string; path: string } {
  const workspace = mkdtempSync(join(tmpdir(), 'mybot-badcfg-'));
  const name = entry.as === 'runtime' ? 'config.runtime.yaml' : 'config.user.yaml';
  if (entry.as === 'runtime') writeFileSync(join(workspace, 'config.user.yaml'), VALID_USER);
  copyFileSync(join(CORPUS, 'config', entry.file), join(workspace, name));
  return { workspace, path: join(workspace, name) };
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('the malformed config corpus (test/corpus/configs.json) through the config loader', () => {
  it.each(CONFIGS.map((c) => [`${c.file}${c.as ? ` as ${c.as}` : ''}`, c] as const))('%s', (_name, entry) => {
    const { workspace, path } = workspaceFor(entry);
    const error = errorOf(() => loadConfig(workspace, {}));
    if (entry.error === null) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    // one line that names the file, then what is wrong with it
    expect(message).not.toContain('\n');
    expect(message.startsWith(`${path}: `)).toBe(true);
    expect(message.slice(path.length + 2)).toMatch(new RegExp(entry.error));
    expect((error as ConfigError).file).toBe(path);
  });

  it('a 10 MB file is refused without being parsed', () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-badcfg-'));
    const path = join(workspace, 'config.user.yaml');
    writeFileSync(path, `${VALID_USER}# ${'x'.repeat(10 * 1024 * 1024)}\n`);
    const started = Date.now();
    expect(() => loadConfig(workspace, {})).toThrow(`${path}: file is larger than 1 MB; is it the right file?`);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('a running daemon that reloads any of them keeps its config: reload reports false, never throws', async () => {
    for (const entry of CONFIGS.filter((c) => c.error !== null)) {
      const { workspace } = workspaceFor(entry);
      const { logger, lines } = memoryLogger();
      const watcher = new ConfigWatcher(workspace, async () => undefined, logger, {});
      await expect(watcher.reload(), entry.file).resolves.toBe(false);
      expect(lines.at(-1)?.msg, entry.file).toBe('config change rejected; keeping the running config');
    }
  });

  it('a config file that cannot be read at all is a clear error, not a crash of the reload', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-badcfg-'));
    // a folder where the file should be: EISDIR
    const { mkdirSync } = await import('node:fs');
    writeFileSync(join(workspace, 'config.user.yaml'), VALID_USER);
    mkdirSync(join(workspace, 'config.runtime.yaml'));
    const error = errorOf(() => loadConfig(workspace, {}));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`${join(workspace, 'config.runtime.yaml')}: cannot be read (EISDIR): check that it exists and that mybot may read it`);
  });
});
