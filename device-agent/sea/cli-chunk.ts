/**
 * The CLI, loaded when the command is not the relay's. From the sources this is a dynamic import;
 * the executable's build replaces this module with one that compiles the CLI from its own asset
 * (scripts/build-agent/bundle.ts), so the script the relay runs does not even hold the CLI's code
 * (docs/agent.md, "Shipping the agent").
 *
 * @example
 * const { runAsProcess } = await loadCli();
 */
export function loadCli(): Promise<typeof import('../cli/process.js')> {
  return import('../cli/process.js');
}
