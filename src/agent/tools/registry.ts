import { z } from 'zod';
import type { Actor } from '../../core/actor.ts';
import { ToolError } from '../../core/errors.ts';
import type { ToolCall, ToolSpec } from '../llm.ts';
import { toolSpec, type Tool } from './tool.ts';

/** The tools offered to the model, and the one place a tool call is parsed, validated and run. */
export class ToolRegistry {
  private readonly tools: Map<string, Tool>;
  private readonly toolSpecs: ToolSpec[];

  constructor(
    tools: Tool[] | ToolRegistry,
    private readonly actor?: Actor,
  ) {
    if (tools instanceof ToolRegistry) {
      this.tools = tools.tools;
      this.toolSpecs = tools.toolSpecs;
    } else {
      this.tools = new Map(tools.map((tool) => [tool.name, tool]));
      this.toolSpecs = tools.map(toolSpec);
    }
  }

  /** The same tools, run on behalf of `actor` for one turn; costs no new specs. */
  forTurn(actor: Actor): ToolRegistry {
    return new ToolRegistry(this, actor);
  }

  specs(): ToolSpec[] {
    return this.toolSpecs;
  }

  /** Runs a call; every failure becomes text for the model ("Error: ..."), never a throw. */
  async run(call: ToolCall, signal: AbortSignal): Promise<string> {
    const tool = this.tools.get(call.name);
    if (!tool) return `Error: there is no tool named '${call.name}'. Available: ${[...this.tools.keys()].join(', ')}`;
    let raw: unknown;
    try {
      raw = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
    } catch {
      return `Error: the arguments of ${call.name} are not valid JSON: ${call.arguments.slice(0, 200)}`;
    }
    const parsed = tool.schema.safeParse(raw);
    if (!parsed.success) return `Error: invalid arguments for ${call.name}: ${z.prettifyError(parsed.error)}`;
    try {
      return await tool.run(parsed.data, signal, this.actor);
    } catch (err) {
      if (err instanceof ToolError) return `Error: ${err.message}`;
      const code = (err as NodeJS.ErrnoException).code;
      return `Error: ${call.name} failed${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
}
