import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../log.ts';

export interface FileCatalogueOptions<T> {
  /** The folder whose entries are looked at. */
  dir: string;
  /** The file an entry of the folder stands for; undefined skips the entry. */
  fileOf: (entry: string) => string | undefined;
  /** Parses a file's text; throws an Error whose message says what to fix. */
  parse: (text: string, entry: string, file: string) => T;
  /** A file above this is skipped, with `tooBig`'s advice. */
  maxBytes: number;
  tooBig: string;
  /** What a skipped file is, in the warning: 'skill', 'schedule'. */
  what: string;
  log: Logger;
}

interface Entry<T> {
  stamp: string;
  value: T | undefined;
}

/**
 * Files an owner drops into a workspace folder (skills, schedules), kept parsed in memory. `refresh`
 * costs one stat of the folder and one per file (sync: microseconds for local files, where the
 * async calls would be a thread-pool round trip each) and reads only the files that changed, so an
 * edit, a new file or a deleted one applies at the next refresh, without a restart. A malformed
 * file is skipped with one warning naming it, until it changes again.
 */
export class FileCatalogue<T> {
  private folderStamp: string | undefined;
  private entries: string[] = [];
  private readonly loaded = new Map<string, Entry<T>>();

  constructor(private readonly options: FileCatalogueOptions<T>) {}

  get dir(): string {
    return this.options.dir;
  }

  /** Looks again; true when anything changed since the last call. */
  refresh(): boolean {
    let changed = false;
    const folderStamp = stampOf(this.options.dir);
    if (folderStamp !== this.folderStamp) {
      this.folderStamp = folderStamp;
      this.entries = folderStamp === undefined ? [] : this.listEntries();
      for (const entry of this.loaded.keys()) if (!this.entries.includes(entry)) this.loaded.delete(entry);
      changed = true;
    }
    for (const entry of this.entries) {
      const file = this.options.fileOf(entry);
      if (file === undefined) continue;
      const stamp = stampOf(file) ?? 'missing';
      if (this.loaded.get(entry)?.stamp === stamp) continue;
      this.loaded.set(entry, { stamp, value: stamp === 'missing' ? undefined : this.load(entry, file) });
      changed = true;
    }
    return changed;
  }

  /** Every entry with a file, parsed or not, as of the last refresh. */
  names(): string[] {
    return [...this.loaded.keys()];
  }

  /** The files that parsed, by entry name, as of the last refresh. */
  values(): Array<[string, T]> {
    return [...this.loaded].flatMap(([entry, { value }]) => (value === undefined ? [] : [[entry, value] as [string, T]]));
  }

  private listEntries(): string[] {
    try {
      return readdirSync(this.options.dir).filter((name) => !name.startsWith('.'));
    } catch (err) {
      this.options.log.warn({ err, dir: this.options.dir }, `cannot list the folder; ${this.options.what}s are off until it can be read`);
      return [];
    }
  }

  private load(entry: string, file: string): T | undefined {
    try {
      const { size } = statSync(file);
      if (size > this.options.maxBytes) throw new Error(`it is ${size} bytes, over the ${this.options.maxBytes} a ${this.options.what} may have: ${this.options.tooBig}`);
      return this.options.parse(readFileSync(file, 'utf8'), entry, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code ? `cannot read it (${code})` : (err as Error).message;
      this.options.log.warn({ file, reason }, `${this.options.what} skipped: its ${basename(file)} is malformed; fix it and save it again`);
      return undefined;
    }
  }
}

/** Identifies a file's version: changes on every write, rename or replacement. Undefined when it does not exist. */
export function stampOf(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return `error:${code}`;
  }
}
