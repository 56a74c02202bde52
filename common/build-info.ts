/**
 * What the build of the one-file `ota-agent` executable (scripts/build-agent/) wrote into the
 * bundle (docs/agent.md, "Shipping the agent"): esbuild replaces the identifier `OTA_AGENT_BUILD`
 * with this object, so a process run from dist/ or under tsx sees null. The bundle has no
 * package.json beside it to read a version from, and inside a single executable there is no
 * script path to start workers with.
 *
 * @example
 * agentBuild()?.version; // '0.1.0' in the executable, undefined from dist/
 */
export interface AgentBuild {
  /** The deb-ota package's version the bundle was made from. */
  version: string;
  /** True in a single executable: `process.execPath` is the agent itself. */
  sea: boolean;
}

declare const OTA_AGENT_BUILD: AgentBuild | undefined;

export function agentBuild(): AgentBuild | null {
  return typeof OTA_AGENT_BUILD === 'undefined' ? null : OTA_AGENT_BUILD;
}
