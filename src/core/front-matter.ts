import { parse as parseYaml } from 'yaml';

const FRONT_MATTER = /^---[ \t]*\n([\s\S]*?)\n---[ \t]*(?:\n|$)([\s\S]*)$/;

/**
 * A Markdown file that starts with YAML front matter between two `---` lines (skills, schedules):
 * the parsed YAML and the body after it. Throws an Error whose message says what to fix.
 */
export function splitFrontMatter(text: string, expected: string): { data: unknown; body: string } {
  const match = FRONT_MATTER.exec(text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'));
  if (!match) throw new Error(`it does not start with a front matter block: a line ---, then ${expected}, then a line ---`);
  try {
    return { data: parseYaml(match[1]!), body: match[2]!.trim() };
  } catch (err) {
    throw new Error(`its front matter is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}
