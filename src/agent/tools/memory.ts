import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Actor } from '../../core/actor.ts';
import { ToolError } from '../../core/errors.ts';
import { editSection, MAX_MEMORY_CHARS, type MemoryFiles } from '../memory.ts';
import { defineTool, type Tool } from './tool.ts';

const MAX_HITS = 50;
const MAX_SEARCH_FILE_BYTES = 1_000_000;
const NO_MEMORY_HERE = 'this is a group chat: memory is kept only in private chats. Ask them to tell you in a private chat.';

/** memory_read, memory_write and memory_search: each works on the memory of the person whose turn it is, and nothing else. */
export function memoryTools(memory: MemoryFiles): Tool[] {
  const ownFile = (actor: Actor | undefined): string => {
    if (!actor) throw new ToolError('memory is not available here');
    const file = memory.fileFor(actor);
    if (file === undefined) throw new ToolError(NO_MEMORY_HERE);
    return file;
  };
  return [
    defineTool({
      name: 'memory_read',
      description: 'Read your whole memory file about the person in this private chat.',
      schema: z.object({}),
      async run(_args, _signal, actor) {
        const file = ownFile(actor);
        return memory.read(file).trim() || '(nothing remembered yet)';
      },
    }),
    defineTool({
      name: 'memory_write',
      description: 'Save lasting facts about the person in this private chat, one short line each, under a `## section` (made if missing); mode "replace" replaces the section\'s text (an empty text removes it).',
      schema: z.object({
        text: z.string(),
        section: z.string().min(1).max(80).optional(),
        mode: z.enum(['append', 'replace']).default('append'),
      }),
      async run({ text, section, mode }, _signal, actor) {
        const file = ownFile(actor);
        if (mode === 'replace' && section === undefined) throw new ToolError('mode "replace" needs a section: the heading whose text to replace');
        const next = memory.edit(file, (current) => {
          const edited = editSection(current, text, section, mode === 'replace');
          if (edited.length > MAX_MEMORY_CHARS) throw new ToolError(`the memory file would be ${edited.length} characters, over the ${MAX_MEMORY_CHARS} it may have: replace a section with a shorter summary first`);
          return edited;
        });
        return `saved to your memory of them (${next.length} characters in all)`;
      },
    }),
    defineTool({
      name: 'memory_search',
      description: 'Search your memory of this person and notes/ for a word or phrase (case-insensitive); returns the matching lines.',
      schema: z.object({ query: z.string().trim().min(2) }),
      async run({ query }, _signal, actor) {
        if (!actor) throw new ToolError('memory is not available here');
        const hits = await search(memory.workspace, memory.searchable(actor), query);
        return hits.length === 0 ? `nothing found for '${query}'` : hits.join('\n');
      },
    }),
  ];
}

/** Lines holding `query` (or, failing that, all of its words) in the files under `roots`; symlinks are not followed. */
async function search(workspace: string, roots: string[], query: string): Promise<string[]> {
  const files = (await Promise.all(roots.map((root) => filesUnder(workspace, root)))).flat().sort();
  const lines: Array<{ where: string; text: string }> = [];
  for (const file of files) {
    const text = await readFile(join(workspace, file), 'utf8');
    text.split('\n').forEach((line, i) => lines.push({ where: `${file}:${i + 1}`, text: line }));
  }
  const needle = query.toLowerCase();
  const words = needle.split(/\s+/);
  let hits = lines.filter((l) => l.text.toLowerCase().includes(needle));
  if (hits.length === 0 && words.length > 1) hits = lines.filter((l) => words.every((w) => l.text.toLowerCase().includes(w)));
  const shown = hits.slice(0, MAX_HITS).map((l) => `${l.where}: ${l.text.trim()}`);
  return hits.length > MAX_HITS ? [...shown, `[${hits.length - MAX_HITS} more: search for something narrower]`] : shown;
}

async function filesUnder(workspace: string, path: string): Promise<string[]> {
  let stat;
  try {
    stat = await lstat(join(workspace, path));
  } catch {
    return [];
  }
  if (stat.isFile()) return stat.size <= MAX_SEARCH_FILE_BYTES ? [path] : [];
  if (!stat.isDirectory()) return [];
  const entries = await readdir(join(workspace, path));
  return (await Promise.all(entries.filter((e) => !e.startsWith('.')).map((e) => filesUnder(workspace, `${path}/${e}`)))).flat();
}
