import { packageVersion } from '../../common/package-version.js';
import { probeLibostree } from '../../node-ostree/version.js';

/**
 * What `ota-agent --version` reports: the agent's version (the package's), Node's, and the
 * libostree it runs against, asked of the library itself. A device without libostree still
 * answers, with the reason in `note`, so the command works for diagnosing exactly that.
 *
 * @example
 * agentVersionLines(await agentVersionReport()); // ['ota-agent 0.1.0', 'libostree 2022.7', 'node 22.12.0']
 */
export interface AgentVersionReport {
  agent: string;
  node: string;
  libostree: { version: string | null; note: string | null };
}

export async function agentVersionReport(): Promise<AgentVersionReport> {
  return { agent: await packageVersion(), node: process.versions.node, libostree: probeLibostree() };
}

export function agentVersionLines(r: AgentVersionReport): string[] {
  const lines = [`ota-agent ${r.agent}`, `libostree ${r.libostree.version ?? 'not found'}`];
  if (r.libostree.note) lines.push(`  ${r.libostree.note}`);
  lines.push(`node ${r.node}`);
  return lines;
}
