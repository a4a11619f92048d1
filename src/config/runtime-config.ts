import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { deepMerge, RUNTIME_CONFIG } from './load.ts';

/**
 * Merges `patch` into config.runtime.yaml atomically (temp file, fsync, rename): a crash leaves
 * either the old file or the new one, never half of one. The config watcher picks it up.
 */
export function updateRuntimeConfig(workspace: string, patch: Record<string, unknown>): void {
  const file = join(workspace, RUNTIME_CONFIG);
  const current = existsSync(file) ? ((parse(readFileSync(file, 'utf8')) as Record<string, unknown> | null) ?? {}) : {};
  writeFileAtomic(file, `# written by mybot: settings changed from the chat; they override config.user.yaml\n${stringify(deepMerge(current, patch))}`);
}
