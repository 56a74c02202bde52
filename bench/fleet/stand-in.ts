/**
 * What a simulated device of bench/fleet has in place of a disk, a bootloader and OSTree: the agent's
 * own engine (AgentMachine, its handlers, its transition table and loop breaker) runs over these, and
 * only the device-side effects are stand-ins, named so. The deploy step is a RECORDED STAND-IN: it
 * writes no file and pulls nothing, it records the call and moves the commit to the head of an
 * in-memory deployment list, as `ostree admin deploy` would. The bootloader is the real
 * `backendOverVars` with its variables in memory, so arming, the boot counter and marking good
 * are the real code; the stand-in boot is `nextBoot` from bootloader/, as the test harness's is.
 */
import { backendOverVars, bootStateToVars, initialBootState, nextBoot, type BootloaderBackend, type BootState } from '../../bootloader/index.js';
import { compareVersions, readSigned, type TrustedKeys } from '../../contract/index.js';
import type { DeploymentInfo as EngineDeployment, PreflightVerdict, SysrootView, UpdateSteps, UpdateTarget } from '../../device-agent/engine/deps.js';
import { countSave, initialRecord, type AgentRecord } from '../../device-agent/engine/record.js';
import type { DeploymentInfo } from '../../device-agent/cli/status.js';

export const REF = 'bench/fleet';

export interface Deployed {
  commit: string;
  version: string | null;
}

/** The sysroot's deployments in boot order (0 boots next) and what runs. */
export class SimSysroot implements SysrootView {
  list: Deployed[];
  booted: string;

  constructor(running: Deployed, previous: Deployed | null) {
    this.list = previous === null ? [running] : [running, previous];
    this.booted = running.commit;
  }

  deployments(): Promise<EngineDeployment[]> {
    return Promise.resolve(this.list.map((d, index) => ({ index, checksum: d.commit, staged: false })));
  }

  bootedCommit(): Promise<string | null> {
    return Promise.resolve(this.booted);
  }

  setDefault(index: number): Promise<void> {
    const [d] = this.list.splice(index, 1);
    this.list.unshift(d!);
    return Promise.resolve();
  }

  undeploy(index: number): Promise<void> {
    this.list.splice(index, 1);
    return Promise.resolve();
  }

  /** As the status document lists them on a booted system: booted, pending before it, rollback after it. */
  statusDeployments(): DeploymentInfo[] {
    const at = this.list.findIndex((d) => d.commit === this.booted);
    return this.list.map((d, index) => ({
      index,
      osname: 'debian',
      checksum: d.commit,
      serial: 0,
      version: d.version,
      role: index === at ? 'booted' : index < at ? 'pending' : index === at + 1 ? 'rollback' : 'other',
      staged: false,
      pinned: false,
    }));
  }
}

/** The real bootloader backend over variables held in memory. */
export function memoryBootloader(): BootloaderBackend {
  let vars = new Map<string, string>(bootStateToVars(initialBootState(3)));
  return backendOverVars('uboot', {
    where: 'memory (bench/fleet)',
    read: () => Promise.resolve(new Map(vars)),
    write: (state: BootState) => {
      vars = new Map(bootStateToVars(state));
      return Promise.resolve();
    },
  });
}

/** The state store in memory, through the record's own loop breaker (countSave). */
export function memoryStore() {
  let record: AgentRecord = initialRecord();
  return {
    load: () => Promise.resolve(record),
    save: (r: AgentRecord, at: Date) => {
      record = countSave(r, at);
      return Promise.resolve(record);
    },
    removeLeftovers: () => Promise.resolve([] as string[]),
    lock: () => Promise.resolve(() => Promise.resolve()),
  };
}

export interface StandInOptions {
  sysroot: SimSysroot;
  trusted: TrustedKeys;
  /** The release the device heard last (the group's release, for an upgrade that fetches it). */
  heardRelease: () => string | null;
  /** Each call, recorded: what the stand-in was asked to do. */
  record: (step: string) => void;
}

/**
 * The update steps as a RECORDED STAND-IN: preflight verifies the release as the real one does
 * (readSigned with the device's trusted keys, the floor, the running commit) and everything that
 * would touch the disk only records the call and edits the in-memory deployment list.
 */
export function recordedStandInSteps(o: StandInOptions): UpdateSteps {
  const s = o.sysroot;
  return {
    fetchRelease: () => {
      o.record('fetchRelease');
      const jws = o.heardRelease();
      return jws === null ? Promise.reject(new Error('no release heard yet')) : Promise.resolve(jws);
    },
    fetchVersion: (_ref, version) => Promise.reject(new Error(`the stand-in keeps no published ${version}`)),
    preflight: (t) => {
      o.record('preflight');
      return preflight(t, s, o.trusted);
    },
    download: () => {
      o.record('download');
      return Promise.resolve();
    },
    deploy: (t) => {
      o.record('deploy');
      if (t.intent === 'rollback') {
        const previous = s.list.findIndex((d) => d.commit !== s.booted);
        return s.setDefault(previous).then(() => ({ commit: s.list[0]!.commit }));
      }
      if (t.toCommit === null) return Promise.reject(new Error('deploy without a commit'));
      s.list = [{ commit: t.toCommit, version: versionOf(t) }, ...s.list.filter((d) => d.commit !== t.toCommit)];
      return Promise.resolve({ commit: t.toCommit });
    },
    renderBootConfig: () => Promise.resolve(),
    prune: () => {
      o.record('prune');
      const booted = s.list.findIndex((d) => d.commit === s.booted);
      s.list = s.list.filter((_d, i) => i <= booted + 1);
      return Promise.resolve();
    },
    cleanDownloads: () => Promise.resolve(),
  };
}

const versions = new Map<string, string | null>();

function versionOf(t: UpdateTarget): string | null {
  return t.toCommit === null ? null : (versions.get(t.toCommit) ?? null);
}

async function preflight(t: UpdateTarget, s: SimSysroot, trusted: TrustedKeys): Promise<PreflightVerdict> {
  if (t.intent === 'rollback') {
    const previous = s.list.find((d) => d.commit !== s.booted);
    if (previous === undefined) return { verdict: 'refused', reason: 'no rollback deployment' };
    return { verdict: 'go', target: { ref: REF, version: previous.version, commit: previous.commit, minVersion: null }, releaseJws: null };
  }
  if (t.releaseJws === null) return { verdict: 'refused', reason: 'no release' };
  const { doc } = await readSigned('release', t.releaseJws, trusted, { checkExpiry: false });
  versions.set(doc.commit, doc.version);
  const target = { ref: doc.ref, version: doc.version, commit: doc.commit, minVersion: doc.minVersion };
  if (doc.commit === s.booted) return { verdict: 'upToDate', target };
  if (t.floor !== null && !t.belowFloor && compareVersions(doc.version, t.floor) <= 0) return { verdict: 'refused', reason: `version ${doc.version} is at or below the floor ${t.floor}` };
  return { verdict: 'go', target, releaseJws: t.releaseJws };
}

/** The stand-in boot: the bootloader's own decision over its state, then the entry it picks runs. */
export async function standInBoot(s: SimSysroot, bl: BootloaderBackend): Promise<void> {
  const d = nextBoot(await bl.getState(), s.list.length > 1);
  if (d.saved) await bl.setState(d.state);
  s.booted = s.list[d.entry]?.commit ?? s.list[0]!.commit;
}

