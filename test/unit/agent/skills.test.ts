import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSkill, SkillCatalogue, withSkills } from '../../../src/agent/skills.ts';
import { ToolRegistry } from '../../../src/agent/tools/registry.ts';
import { useSkillTool } from '../../../src/agent/tools/skills.ts';
import { memoryLogger } from '../../helpers/log.ts';

const skillFile = (name: string, description: string, body: string) => `---\nname: ${name}\ndescription: ${description}\n---\n\n${body}\n`;

function setup(files: Record<string, string> = {}) {
  const dir = join(mkdtempSync(join(tmpdir(), 'mybot-skills-')), 'skills');
  const write = (path: string, content: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  };
  for (const [path, content] of Object.entries(files)) write(path, content);
  const { logger, lines } = memoryLogger();
  const catalogue = new SkillCatalogue(dir, logger);
  const tools = new ToolRegistry([useSkillTool(catalogue)]);
  const useSkill = (name: string) => tools.run({ id: 'c', name: 'use_skill', arguments: JSON.stringify({ name }) }, new AbortController().signal);
  const warnings = () => lines.filter((l) => l.level === 40);
  return { dir, write, catalogue, useSkill, warnings };
}

describe('parseSkill', () => {
  it('reads name and description from the front matter and keeps the Markdown body', () => {
    const skill = parseSkill('---\r\nname: pdf-tools\r\ndescription: >\r\n  Fill and merge\r\n  PDF files.\r\nlicense: MIT\r\n---\r\n# Steps\r\n\r\n1. Open it.\r\n', 'pdf-tools', '/x/SKILL.md');
    expect(skill).toEqual({ name: 'pdf-tools', description: 'Fill and merge PDF files.', body: '# Steps\n\n1. Open it.', file: '/x/SKILL.md' });
  });

  it.each([
    ['no front matter', '# Just Markdown', /front matter block/],
    ['unclosed front matter', '---\nname: a\ndescription: b\n', /front matter block/],
    ['invalid YAML', '---\nname: [a\ndescription: b\n---\nbody', /not valid YAML/],
    ['front matter not a mapping', '---\n- a\n- b\n---\nbody', /front matter is invalid/],
    ['no description', '---\nname: a\n---\nbody', /description/],
    ['empty description', '---\nname: a\ndescription: "  "\n---\nbody', /description must say when/],
    ['a name with spaces', '---\nname: My Skill\ndescription: b\n---\nbody', /lowercase letters/],
    ['a name other than the folder', '---\nname: b\ndescription: c\n---\nbody', /differs from its folder 'a'/],
    ['no body', '---\nname: a\ndescription: b\n---\n\n', /no instructions/],
  ])('refuses %s, saying what to fix', (_case, text, reason) => {
    expect(() => parseSkill(text, 'a', 'SKILL.md')).toThrow(reason);
  });
});

describe('SkillCatalogue', () => {
  it('lists names and descriptions in the prompt, sorted, never a body; use_skill returns the body', async () => {
    const { catalogue, useSkill } = setup({
      'weather/SKILL.md': skillFile('weather', 'Look up a forecast.', 'SECRET-WEATHER-STEPS: call the API.'),
      'notes/SKILL.md': skillFile('notes', 'Keep notes in notes/.', 'Write to notes/YYYY-MM-DD.md.'),
      'README.md': 'not a skill folder',
      '.hidden/SKILL.md': skillFile('hidden', 'x', 'y'),
      'empty-folder/.keep': '',
    });
    const section = catalogue.promptSection();
    expect(section).toContain('- notes: Keep notes in notes/.\n- weather: Look up a forecast.');
    expect(section).not.toContain('SECRET-WEATHER-STEPS');
    expect(section).not.toContain('hidden');
    expect(withSkills('You are mybot.', catalogue)).toBe(`You are mybot.\n\n${section}`);
    expect(await useSkill('weather')).toContain('SECRET-WEATHER-STEPS: call the API.');
    expect(await useSkill(' Weather ')).toContain('# Skill: weather');
    expect(await useSkill('cooking')).toBe("Error: there is no skill named 'cooking'. Skills: notes, weather");
  });

  it('no skills folder: nothing in the prompt, and use_skill says so', async () => {
    const { catalogue, useSkill } = setup();
    expect(catalogue.promptSection()).toBe('');
    expect(withSkills('You are mybot.', catalogue)).toBe('You are mybot.');
    expect(await useSkill('x')).toMatch(/No skills are installed/);
  });

  it('skips a malformed SKILL.md with one warning naming the file; the others still load', () => {
    const { dir, catalogue, warnings } = setup({
      'good/SKILL.md': skillFile('good', 'Works.', 'Body.'),
      'broken/SKILL.md': '---\nname: broken\n---\nno description',
    });
    expect(catalogue.list().map((s) => s.name)).toEqual(['good']);
    expect(warnings()).toEqual([expect.objectContaining({ file: join(dir, 'broken', 'SKILL.md'), reason: expect.stringMatching(/description/), msg: expect.stringMatching(/skill skipped/) })]);
    // not warned again on every turn, only when the file changes
    catalogue.promptSection();
    catalogue.list();
    expect(warnings()).toHaveLength(1);
  });

  it('picks up an edit, a new skill, a fixed one and a removed one without a restart', async () => {
    const { dir, write, catalogue, useSkill, warnings } = setup({ 'a/SKILL.md': skillFile('a', 'First version.', 'Body one.') });
    expect(catalogue.promptSection()).toContain('- a: First version.');

    write('a/SKILL.md', skillFile('a', 'Second version.', 'Body two.'));
    expect(catalogue.promptSection()).toContain('- a: Second version.');
    expect(await useSkill('a')).toContain('Body two.');

    write('b/SKILL.md', '---\nname: b\n---\n');
    expect(catalogue.list().map((s) => s.name)).toEqual(['a']);
    expect(warnings()).toHaveLength(1);
    write('b/SKILL.md', skillFile('b', 'Fixed.', 'Now valid.'));
    expect(catalogue.list().map((s) => s.name)).toEqual(['a', 'b']);

    // an editor's save: write a temp file, rename it over the old one
    writeFileSync(join(dir, 'b', 'SKILL.md.tmp'), skillFile('b', 'Renamed over.', 'Third.'));
    renameSync(join(dir, 'b', 'SKILL.md.tmp'), join(dir, 'b', 'SKILL.md'));
    expect(catalogue.promptSection()).toContain('- b: Renamed over.');

    rmSync(join(dir, 'a'), { recursive: true });
    expect(catalogue.list().map((s) => s.name)).toEqual(['b']);
    expect(await useSkill('a')).toMatch(/no skill named 'a'/);

    rmSync(dir, { recursive: true });
    expect(catalogue.promptSection()).toBe('');
  });

  it('reads a file again only when it changed', () => {
    const { catalogue } = setup({ 'a/SKILL.md': skillFile('a', 'D.', 'B.') });
    const first = catalogue.list();
    expect(catalogue.list()).toBe(first);
    expect(catalogue.promptSection()).toBe(catalogue.promptSection());
  });

  it('skips a SKILL.md too large for the context, saying so', () => {
    const { catalogue, warnings } = setup({ 'big/SKILL.md': skillFile('big', 'Huge.', 'x'.repeat(200_000)) });
    expect(catalogue.list()).toEqual([]);
    expect(warnings()[0]).toMatchObject({ reason: expect.stringMatching(/bytes, over the 100000/) });
  });
});
