import { mkdir, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { ToolError } from '../../core/errors.ts';
import { INBOX, inboxFolder } from '../../media/inbox.ts';
import { defineTool, type Tool } from './tool.ts';

const MAX_READ_CHARS = 100_000;
/**
 * Off limits to the model: the daemon's state, the files that hold secrets, every chat's history,
 * the logs, and what it remembers about people (MEMORY.md, memory/: only the memory tools reach
 * those, each for the person whose turn it is), so no user can have the model read another's.
 * schedules/ holds owners' jobs, which may run anywhere as often as they like: only owners write there.
 */
const PROTECTED = [/^\.mybot(\/|$)/, /^config\.[^/]*\.yaml$/, /^sessions(\/|$)/, /^logs(\/|$)/, /^MEMORY\.md$/i, /^memory(\/|$)/i, /^schedules(\/|$)/i];

function isProtected(root: string, path: string): boolean {
  const rel = relative(root, path).split(sep).join('/');
  return PROTECTED.some((re) => re.test(rel));
}

/** Every conversation's inbox but the one of `sessionId` (the files its users sent): a user can have the model open their own files again, never another chat's. */
function isOtherInbox(root: string, path: string, sessionId: string | undefined): boolean {
  const [top, folder] = relative(root, path).split(sep);
  return top === INBOX && folder !== undefined && (sessionId === undefined || folder !== inboxFolder(sessionId));
}

/**
 * Resolves a path the model gave to a real path inside the workspace, or refuses: absolute paths,
 * `..` that climbs out, a symlink that points out, NUL bytes, and the daemon's own files.
 */
export async function confine(workspace: string, path: string, sessionId?: string): Promise<string> {
  if (path.includes('\0')) throw new ToolError('the path contains a NUL byte');
  if (isAbsolute(path)) throw new ToolError(`'${path}' is absolute: use a path relative to the workspace`);
  const root = await realpath(workspace);
  const target = resolve(root, path);
  if (!isInside(root, target)) throw new ToolError(`'${path}' is outside the workspace`);
  // the deepest part of the path that exists decides where a symlink really leads
  let existing = target;
  for (;;) {
    try {
      existing = await realpath(existing);
      break;
    } catch {
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  if (!isInside(root, existing)) throw new ToolError(`'${path}' leads outside the workspace through a symlink`);
  // by name, and by where a symlink inside the workspace really leads
  if (isProtected(root, target) || isProtected(root, existing)) throw new ToolError(`'${path}' belongs to the daemon and is not accessible`);
  if (isOtherInbox(root, target, sessionId) || isOtherInbox(root, existing, sessionId)) throw new ToolError(`'${path}' holds another conversation's files and is not accessible`);
  return target;
}

function isInside(root: string, target: string): boolean {
  return target === root || target.startsWith(root + sep);
}

export function fileTools(workspace: string): Tool[] {
  return [
    defineTool({
      name: 'read_file',
      description: 'Read a text file in the workspace. Paths are relative to the workspace.',
      schema: z.object({ path: z.string().min(1) }),
      async run({ path }, _signal, actor) {
        const text = await readFile(await confine(workspace, path, actor?.sessionId), 'utf8');
        return text.length > MAX_READ_CHARS ? `${text.slice(0, MAX_READ_CHARS)}\n[truncated: ${text.length} characters in all]` : text;
      },
    }),
    defineTool({
      name: 'write_file',
      description: 'Create or overwrite a text file in the workspace (parent folders are created).',
      schema: z.object({ path: z.string().min(1), content: z.string() }),
      async run({ path, content }, _signal, actor) {
        const target = await confine(workspace, path, actor?.sessionId);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content);
        return `wrote ${content.length} characters to ${path}`;
      },
    }),
    defineTool({
      name: 'edit_file',
      description: 'Replace one exact occurrence of old_text with new_text in a workspace file.',
      schema: z.object({ path: z.string().min(1), old_text: z.string().min(1), new_text: z.string() }),
      async run({ path, old_text, new_text }, _signal, actor) {
        const target = await confine(workspace, path, actor?.sessionId);
        const text = await readFile(target, 'utf8');
        const at = text.indexOf(old_text);
        if (at < 0) throw new ToolError(`old_text was not found in ${path}`);
        if (text.indexOf(old_text, at + 1) >= 0) throw new ToolError(`old_text occurs more than once in ${path}: include more context`);
        await writeFile(target, text.slice(0, at) + new_text + text.slice(at + old_text.length));
        return `edited ${path}`;
      },
    }),
    defineTool({
      name: 'list_files',
      description: 'List the files and folders in a workspace folder (default: the workspace itself).',
      schema: z.object({ path: z.string().default('.') }),
      async run({ path }, _signal, actor) {
        const target = await confine(workspace, path, actor?.sessionId);
        if (!(await stat(target)).isDirectory()) throw new ToolError(`${path} is not a folder`);
        const entries = await readdir(target, { withFileTypes: true });
        const root = await realpath(workspace);
        const lines = entries
          .filter((e) => !e.name.startsWith('.mybot') && !isProtected(root, resolve(target, e.name)) && !isOtherInbox(root, resolve(target, e.name), actor?.sessionId))
          .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
          .sort();
        return lines.length > 0 ? lines.join('\n') : '(empty)';
      },
    }),
  ];
}
