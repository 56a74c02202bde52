import { packageVersion } from '../../common/package-version.js';

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
  let version: string | null = null;
  let note: string | null = null;
  try {
    // Loaded only here: the version search loads libostree and nothing else of node-ostree.
    const { libostreeVersion } = await import('../../node-ostree/version.js');
    version = libostreeVersion().version;
  } catch (e) {
    note = `libostree-1.so.1 could not be loaded: ${e instanceof Error ? e.message : String(e)}`;
  }
  return { agent: await packageVersion(), node: process.versions.node, libostree: { version, note } };
}

export function agentVersionLines(r: AgentVersionReport): string[] {
  const lines = [`ota-agent ${r.agent}`, `libostree ${r.libostree.version ?? 'not found'}`];
  if (r.libostree.note) lines.push(`  ${r.libostree.note}`);
  lines.push(`node ${r.node}`);
  return lines;
}
