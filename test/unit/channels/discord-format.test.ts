import { describe, it, expect } from 'vitest';
import { neutralizeMentions } from '../../../src/channels/discord/format.ts';

const ZWSP = '\u200b';

describe('neutralizeMentions', () => {
  it('puts a zero-width space after the @ of @everyone and @here', () => {
    expect(neutralizeMentions('hey @everyone and @here!')).toBe(`hey @${ZWSP}everyone and @${ZWSP}here!`);
  });

  it('neutralizes every occurrence, any case, also inside code', () => {
    expect(neutralizeMentions('@here @here `@Everyone`')).toBe(`@${ZWSP}here @${ZWSP}here \`@${ZWSP}Everyone\``);
  });

  it('leaves user, role and channel mentions and other text alone', () => {
    const text = '<@123> <@!456> <@&789> <#42> **bold** @someone email@example.com';
    expect(neutralizeMentions(text)).toBe(text);
  });

  it('is idempotent', () => {
    const once = neutralizeMentions('@everyone');
    expect(neutralizeMentions(once)).toBe(once);
  });
});
