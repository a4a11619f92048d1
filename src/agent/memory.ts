import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Actor } from '../core/actor.ts';
import { writeFileAtomic } from '../core/atomic-write.ts';
import { stampOf } from '../core/file-catalogue.ts';
import { withFileLock, type Sharing } from '../core/file-lock.ts';

/** Facts about the owner, for their private chats. */
export const OWNER_MEMORY = 'MEMORY.md';
/** `memory/<channel>-<user>.md`: facts about each other person, for their own private chat. */
export const MEMORY_DIR = 'memory';
/** The folder the notes skill writes to; memory_search reads it too. */
export const NOTES_DIR = 'notes';
/** A memory file the prompt carries is cut here: it is meant to stay short. */
const PROMPT_MEMORY_CHARS = 4_000;
/** memory_write refuses to grow a file past this. */
export const MAX_MEMORY_CHARS = 8_000;
/** As AGENT.md: a memory file edited by hand applies within a second, without a stat on every turn. */
const RECHECK_MS = 1_000;

const PRIVATE_GUIDE = `## Memory

Below is your memory of the person in this private chat. When they tell you something lasting about themselves, or ask you to remember something, save it with memory_write (one short line per fact; replace a fact that changed) and say so briefly. Look things up with memory_search. Never save passwords, keys or other secrets. They see and clear it with /forget.`;

const GROUP_GUIDE = `## Memory

This is a group chat: no one's memory is loaded here, and you must not reveal what you remember about anyone. Ask people to tell you personal things to remember in a private chat.`;

/**
 * What the bot remembers across conversations, and who may see it: MEMORY.md only in an owner's
 * private chats, memory/<channel>-<user>.md only in that user's private chat, nothing in groups.
 * The files tools (read_file, list_files) cannot reach them; only the memory tools can, each for
 * the person whose turn it is.
 *
 * Each process reads the files from the workspace (the prompt's copy is looked at again within a
 * second), so a memory written in one process applies in the others. `shared`: an edit is made
 * under the file lock, so two processes editing MEMORY.md at once (two of the owner's chats)
 * keep both edits.
 */
export class MemoryFiles {
  private readonly cache = new Map<string, { checkedAt: number; stamp: string | undefined; text: string }>();
  private readonly shared: boolean;

  constructor(
    readonly workspace: string,
    { shared = false }: Sharing = {},
  ) {
    this.shared = shared;
  }

  /** The memory file of whoever asks, relative to the workspace; undefined in a group. */
  fileFor(actor: Actor): string | undefined {
    const { source, owner } = actor;
    if (source.chatType !== 'private') return undefined;
    if (owner) return OWNER_MEMORY;
    if (source.userId === undefined) return undefined;
    return `${MEMORY_DIR}/${safeName(source.channel)}-${safeName(source.userId)}.md`;
  }

  /** What memory_search may read for this actor: their own memory (all of memory/ for an owner in private), and notes/. */
  searchable(actor: Actor): string[] {
    const own = this.fileFor(actor);
    if (own === undefined) return [NOTES_DIR];
    return actor.owner ? [OWNER_MEMORY, MEMORY_DIR, NOTES_DIR] : [own, NOTES_DIR];
  }

  /** A memory file's text as it is now ('' when there is none). */
  read(file: string): string {
    try {
      return readFileSync(join(this.workspace, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  /** As `read`, for the prompt of every turn: looked at again at most once a second, and read only when it changed. */
  private cachedRead(file: string, now = Date.now()): string {
    const cached = this.cache.get(file);
    if (cached && now - cached.checkedAt < RECHECK_MS) return cached.text;
    const stamp = stampOf(join(this.workspace, file));
    if (cached && cached.stamp === stamp) {
      cached.checkedAt = now;
      return cached.text;
    }
    let text = '';
    try {
      if (stamp !== undefined) text = this.read(file);
    } catch {
      // unreadable is as good as empty in the prompt; memory_read reports the error
    }
    this.cache.set(file, { checkedAt: now, stamp, text });
    return text;
  }

  write(file: string, text: string): void {
    const path = join(this.workspace, file);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, text);
    this.cache.delete(file);
  }

  /** Replaces a memory file's text by `edit(text)` (which may throw to refuse); returns the new text. */
  edit(file: string, edit: (text: string) => string): string {
    const apply = () => {
      const next = edit(this.read(file));
      this.write(file, next);
      return next;
    };
    if (!this.shared) return apply();
    const path = join(this.workspace, file);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    return withFileLock(path, apply);
  }

  /** Deletes a memory file; returns what it held, or undefined when there was nothing. */
  forget(file: string): string | undefined {
    this.cache.delete(file);
    const path = join(this.workspace, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
    rmSync(path, { force: true });
    return text.trim() ? text : undefined;
  }

  /** The memory part of the system prompt for this actor: how to use memory, and in a private chat what it holds. */
  promptSection(actor: Actor): string {
    const file = this.fileFor(actor);
    if (file === undefined) return GROUP_GUIDE;
    const text = this.cachedRead(file).trim();
    const shown = text.length > PROMPT_MEMORY_CHARS ? `${text.slice(0, PROMPT_MEMORY_CHARS)}\n[… ${text.length - PROMPT_MEMORY_CHARS} more characters: memory_read shows them; make the file shorter]` : text;
    return `${PRIVATE_GUIDE}\n\nYour memory of them (${file}):\n${shown || '(nothing yet)'}`;
  }
}

/** The system prompt followed by the memory section for whoever asks, where they ask. */
export function withMemory(prompt: string, memory: MemoryFiles | undefined, actor: Actor): string {
  return memory ? `${prompt}\n\n${memory.promptSection(actor)}` : prompt;
}

/**
 * Adds `text` to a Markdown memory file: at the end, or at the end of the section `## <section>`
 * (made when missing); with `replace`, the section's lines become `text` (an empty text removes the
 * section).
 */
export function editSection(doc: string, text: string, section: string | undefined, replace: boolean): string {
  const body = text.trim() ? [text.trim()] : [];
  const lines = trimBlank(doc.replace(/\r\n?/g, '\n').split('\n'));
  let out: string[];
  if (section === undefined) {
    out = replace ? body : [...lines, ...body];
  } else {
    const title = section.trim().replace(/^#+\s*/, '');
    const start = lines.findIndex((line) => /^##\s/.test(line) && line.replace(/^##\s+/, '').trim().toLowerCase() === title.toLowerCase());
    if (start < 0) {
      out = body.length > 0 ? blocks(lines, [`## ${title}`, ...body]) : lines;
    } else {
      let end = lines.findIndex((line, i) => i > start && /^#{1,2}\s/.test(line));
      if (end < 0) end = lines.length;
      const content = replace ? body : [...trimBlank(lines.slice(start + 1, end)), ...body];
      const kept = replace && content.length === 0 ? [] : [lines[start]!, ...content];
      out = blocks(trimBlank(lines.slice(0, start)), kept, trimBlank(lines.slice(end)));
    }
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** Non-empty groups of lines, a blank line apart. */
function blocks(...groups: string[][]): string[] {
  return groups.filter((g) => g.length > 0).flatMap((g, i) => (i > 0 ? ['', ...g] : g));
}

function trimBlank(lines: string[]): string[] {
  let from = 0;
  let to = lines.length;
  while (from < to && lines[from]!.trim() === '') from++;
  while (to > from && lines[to - 1]!.trim() === '') to--;
  return lines.slice(from, to);
}

/** A platform or user id as a file name part: ids are digits, but nothing else may climb out of memory/. */
function safeName(part: string): string {
  return part.replace(/[^A-Za-z0-9_-]/g, '_');
}
