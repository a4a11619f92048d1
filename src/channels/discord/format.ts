const MASS_MENTION = /@(everyone|here)/gi;

/**
 * Discord renders Markdown itself, so content goes out as written, except that
 * @everyone / @here get a zero-width space after the '@': they cannot ping even
 * if allowed_mentions were misconfigured. Discord parses mentions inside code
 * blocks too, so those are neutralized as well.
 */
export function neutralizeMentions(content: string): string {
  return content.replace(MASS_MENTION, '@\u200b$1');
}
