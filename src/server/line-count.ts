import { readFileSync, statSync } from 'node:fs';

const counted = new Map<string, { stamp: string; lines: number }>();

/** Lines in a file (0 when it does not exist), read again only when its size or mtime changed. */
export function countLines(file: string): number {
  let stamp: string;
  try {
    const st = statSync(file);
    stamp = `${st.size}:${st.mtimeMs}`;
  } catch {
    return 0;
  }
  const known = counted.get(file);
  if (known?.stamp === stamp) return known.lines;
  const text = readFileSync(file, 'utf8');
  let lines = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lines++;
  counted.set(file, { stamp, lines });
  return lines;
}
