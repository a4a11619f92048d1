import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where a secret was found: `<what>: <secret name>`. Empty when nothing leaked. */
export function findSecrets(secrets: Record<string, string>, texts: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [where, text] of Object.entries(texts)) {
    for (const [name, secret] of Object.entries(secrets)) if (text.includes(secret)) found.push(`${where}: ${name}`);
  }
  return found;
}

/** Every file under `dir` (the workspace: sessions, journal, status, logs, the model's notes) as text, by path. */
export function filesUnder(dir: string, skip: (path: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (skip(path)) continue;
    if (entry.isDirectory()) Object.assign(out, filesUnder(path, skip));
    else if (entry.isFile() && statSync(path).size < 64 * 1024 * 1024) out[path] = readFileSync(path, 'utf8');
  }
  return out;
}
