import { z } from 'zod';
import { ToolError } from '../../core/errors.ts';
import type { SkillCatalogue } from '../skills.ts';
import { defineTool, type Tool } from './tool.ts';

/** `use_skill`: the model asks for a skill listed in its system prompt and gets its instructions as the tool result. */
export function useSkillTool(skills: SkillCatalogue): Tool {
  return defineTool({
    name: 'use_skill',
    description: 'Load the instructions of a skill listed under "Skills" in the system prompt, by name. Call it before starting a task that matches the skill, then follow what it returns.',
    schema: z.object({ name: z.string().min(1) }),
    async run({ name }) {
      const wanted = name.trim().toLowerCase();
      const skill = skills.get(wanted);
      if (!skill) {
        const names = skills.list().map((s) => s.name);
        throw new ToolError(`there is no skill named '${name}'. ${names.length > 0 ? `Skills: ${names.join(', ')}` : 'No skills are installed.'}`);
      }
      return `# Skill: ${skill.name}\n(Its folder is skills/${skill.name}/ in the workspace: read any file it mentions with read_file.)\n\n${skill.body}`;
    },
  });
}
