import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../../src/config/schema.ts';
import { updateRuntimeConfig } from '../../../src/config/runtime-config.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigWatcher } from '../../../src/config/watch.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

const base = (model: string) => `llm: {api_base: "http://127.0.0.1:1/v1", model: ${model}}\n`;

describe('ConfigWatcher', () => {
  let watcher: ConfigWatcher | undefined;
  afterEach(() => watcher?.stop());

  function watch(workspace: string) {
    const applied: Config[] = [];
    const { logger, lines } = memoryLogger();
    watcher = new ConfigWatcher(workspace, async (c) => void applied.push(c), logger, {});
    watcher.start();
    return { applied, lines };
  }

  it('applies a valid edit of config.user.yaml, and a runtime override written atomically', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-watch-'));
    writeFileSync(join(workspace, 'config.user.yaml'), base('first'));
    const { applied } = watch(workspace);
    writeFileSync(join(workspace, 'config.user.yaml'), base('second'));
    await waitFor(() => applied.at(-1)?.llm.model === 'second', 5000, 'the edit to be applied');
    updateRuntimeConfig(workspace, { llm: { model: 'third' } });
    await waitFor(() => applied.at(-1)?.llm.model === 'third', 5000, 'the runtime override to be applied');
  });

  it('rejects a broken edit, logs the file and key, and applies nothing', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-watch-'));
    writeFileSync(join(workspace, 'config.user.yaml'), base('first'));
    const { applied, lines } = watch(workspace);
    writeFileSync(join(workspace, 'config.user.yaml'), `${base('first')}llm2: {}\n`);
    const rejected = await waitFor(() => lines.find((l) => l.msg === 'config change rejected; keeping the running config'), 5000, 'the rejection');
    expect(rejected).toMatchObject({ file: join(workspace, 'config.user.yaml'), key: 'llm2' });
    writeFileSync(join(workspace, 'config.user.yaml'), base('first').replace('model: first', 'model: first, timeout_s: "x"'));
    await waitFor(() => lines.filter((l) => l.msg === 'config change rejected; keeping the running config').length === 2, 5000, 'the second rejection');
    expect(lines.at(-1)).toMatchObject({ key: 'llm.timeout_s' });
    expect(applied).toEqual([]);
  });
});

describe('updateRuntimeConfig', () => {
  it('merges into config.runtime.yaml with owner-only permissions and leaves no temp file', () => {
    const workspace = mkdtempSync(join(tmpdir(), 'mybot-runtime-'));
    writeFileSync(join(workspace, 'config.user.yaml'), base('user'));
    updateRuntimeConfig(workspace, { llm: { model: 'a' } });
    updateRuntimeConfig(workspace, { llm: { timeout_s: 5 } });
    expect(loadConfig(workspace, {}).llm).toMatchObject({ model: 'a', timeout_s: 5 });
    expect(statSync(join(workspace, 'config.runtime.yaml')).mode & 0o077).toBe(0);
    expect(readdirSync(workspace).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(join(workspace, 'config.runtime.yaml'), 'utf8')).toMatch(/^# written by mybot/);
  });
});
