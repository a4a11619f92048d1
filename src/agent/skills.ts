import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../log.ts';

/** A skill: instructions for one kind of task, in `<workspace>/skills/<name>/SKILL.md`. */
export interface Skill {
  name: string;
  description: string;
  /** The Markdown after the front matter: what `use_skill` hands the model. */
  body: string;
  file: string;
}

/** A SKILL.md above this is skipped: its body would crowd the context window. */
const MAX_SKILL_BYTES = 100_000;

// as in the Agent Skills format (agentskills.io): the name is the folder's, in lowercase with hyphens
const frontMatterSchema = z.object({
  name: z
    .string()
    .max(64)
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, { error: 'name must be lowercase letters, digits and single hyphens, like pdf-tools' }),
  description: z.string().trim().min(1, { error: 'description must say when to use the skill' }).max(1024),
});

const FRONT_MATTER = /^---[ \t]*\n([\s\S]*?)\n---[ \t]*(?:\n|$)([\s\S]*)$/;

/** Parses a SKILL.md; throws an Error whose message says what to fix. */
export function parseSkill(text: string, folder: string, file: string): Skill {
  const match = FRONT_MATTER.exec(text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'));
  if (!match) throw new Error('it does not start with a front matter block: a line ---, then name: and description:, then a line ---');
  let data: unknown;
  try {
    data = parseYaml(match[1]!);
  } catch (err) {
    throw new Error(`its front matter is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = frontMatterSchema.safeParse(data);
  if (!parsed.success) throw new Error(`its front matter is invalid: ${z.prettifyError(parsed.error).replace(/\n\s*/g, ' ')}`);
  const { name, description } = parsed.data;
  if (name !== folder) throw new Error(`its name '${name}' differs from its folder '${folder}': rename one to match the other`);
  const body = match[2]!.trim();
  if (!body) throw new Error('it has no instructions after the front matter');
  return { name, description: description.replace(/\s+/g, ' '), body, file };
}

interface Entry {
  stamp: string;
  skill: Skill | undefined;
}

/**
 * The workspace's skills, kept in memory. `refresh` costs one stat of the folder and one per skill
 * (sync, as for AGENT.md: microseconds for local files, where the async calls would be a thread-pool
 * round trip each turn), and reads only the files that changed, so an edit, a new skill or a
 * deleted one applies at the next refresh, without a restart.
 */
export class SkillCatalogue {
  private folderStamp: string | undefined;
  private folders: string[] = [];
  private readonly entries = new Map<string, Entry>();
  private skills: Skill[] = [];
  private section = '';

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  list(): Skill[] {
    this.refresh();
    return this.skills;
  }

  get(name: string): Skill | undefined {
    this.refresh();
    return this.skills.find((s) => s.name === name);
  }

  /** What the system prompt says about skills: each one's name and description, never a body. Empty without skills. */
  promptSection(): string {
    this.refresh();
    return this.section;
  }

  refresh(): void {
    let changed = false;
    const folderStamp = stampOf(this.dir);
    if (folderStamp !== this.folderStamp) {
      this.folderStamp = folderStamp;
      this.folders = folderStamp === undefined ? [] : this.listFolders();
      for (const folder of this.entries.keys()) if (!this.folders.includes(folder)) this.entries.delete(folder);
      changed = true;
    }
    for (const folder of this.folders) {
      const file = join(this.dir, folder, 'SKILL.md');
      const stamp = stampOf(file) ?? 'missing';
      if (this.entries.get(folder)?.stamp === stamp) continue;
      this.entries.set(folder, { stamp, skill: stamp === 'missing' ? undefined : this.load(folder, file) });
      changed = true;
    }
    if (changed) this.rebuild();
  }

  private listFolders(): string[] {
    try {
      return readdirSync(this.dir).filter((name) => !name.startsWith('.'));
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'cannot list the skills folder; skills are off until it can be read');
      return [];
    }
  }

  private load(folder: string, file: string): Skill | undefined {
    try {
      const { size } = statSync(file);
      if (size > MAX_SKILL_BYTES) throw new Error(`it is ${size} bytes, over the ${MAX_SKILL_BYTES} a skill may have: move details into other files of its folder`);
      return parseSkill(readFileSync(file, 'utf8'), folder, file);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ? `cannot read it (${(err as NodeJS.ErrnoException).code})` : (err as Error).message;
      this.log.warn({ file, reason }, 'skill skipped: its SKILL.md is malformed; fix it and save it again');
      return undefined;
    }
  }

  private rebuild(): void {
    this.skills = [...this.entries.values()].flatMap((e) => (e.skill ? [e.skill] : [])).sort((a, b) => (a.name < b.name ? -1 : 1));
    // sorted and rebuilt only on change: the prompt stays byte-identical between turns, which keeps provider prompt caches warm
    this.section = this.skills.length === 0 ? '' : [SKILLS_INTRO, ...this.skills.map((s) => `- ${s.name}: ${s.description}`)].join('\n');
    this.log.info({ skills: this.skills.map((s) => s.name) }, 'skills loaded');
  }
}

const SKILLS_INTRO = `## Skills

Skills are instructions for particular tasks, kept in skills/<name>/SKILL.md in your workspace. When a request matches a skill's description, call use_skill with its name before you start, then follow what it returns.
`;

/** Identifies a file's version: changes on every write, rename or replacement. Undefined when it does not exist. */
function stampOf(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return `error:${code}`;
  }
}

/** The system prompt followed by the skills section, when there are skills. */
export function withSkills(prompt: string, skills: SkillCatalogue | undefined): string {
  const section = skills?.promptSection();
  return section ? `${prompt}\n\n${section}` : prompt;
}
