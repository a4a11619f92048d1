import { join } from 'node:path';
import { z } from 'zod';
import { FileCatalogue } from '../core/file-catalogue.ts';
import { splitFrontMatter } from '../core/front-matter.ts';
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

/** Parses a SKILL.md; throws an Error whose message says what to fix. */
export function parseSkill(text: string, folder: string, file: string): Skill {
  const { data, body } = splitFrontMatter(text, 'name: and description:');
  const parsed = frontMatterSchema.safeParse(data);
  if (!parsed.success) throw new Error(`its front matter is invalid: ${z.prettifyError(parsed.error).replace(/\n\s*/g, ' ')}`);
  const { name, description } = parsed.data;
  if (name !== folder) throw new Error(`its name '${name}' differs from its folder '${folder}': rename one to match the other`);
  if (!body) throw new Error('it has no instructions after the front matter');
  return { name, description: description.replace(/\s+/g, ' '), body, file };
}

/**
 * The workspace's skills, kept in memory and looked at again on each call (see FileCatalogue: a
 * stat per skill), so an edit, a new skill or a deleted one applies without a restart.
 */
export class SkillCatalogue {
  private readonly files: FileCatalogue<Skill>;
  private skills: Skill[] = [];
  private section = '';

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    this.files = new FileCatalogue({
      dir,
      fileOf: (folder) => join(dir, folder, 'SKILL.md'),
      parse: parseSkill,
      maxBytes: MAX_SKILL_BYTES,
      tooBig: 'move details into other files of its folder',
      what: 'skill',
      log,
    });
  }

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
    if (this.files.refresh()) this.rebuild();
  }

  private rebuild(): void {
    this.skills = this.files.values().map(([, skill]) => skill).sort((a, b) => (a.name < b.name ? -1 : 1));
    // sorted and rebuilt only on change: the prompt stays byte-identical between turns, which keeps provider prompt caches warm
    this.section = this.skills.length === 0 ? '' : [SKILLS_INTRO, ...this.skills.map((s) => `- ${s.name}: ${s.description}`)].join('\n');
    this.log.info({ skills: this.skills.map((s) => s.name) }, 'skills loaded');
  }
}

const SKILLS_INTRO = `## Skills

Skills are instructions for particular tasks, kept in skills/<name>/SKILL.md in your workspace. When a request matches a skill's description, call use_skill with its name before you start, then follow what it returns.
`;

/** The system prompt followed by the skills section, when there are skills. */
export function withSkills(prompt: string, skills: SkillCatalogue | undefined): string {
  const section = skills?.promptSection();
  return section ? `${prompt}\n\n${section}` : prompt;
}
