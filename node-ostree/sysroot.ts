import { mkdir } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { C, GPtrArrayStruct, koffi, type Ptr } from './ffi/libs.js';
import { callAsync, check, errorOut, takeString, unref } from './ffi/call.js';
import { OstreeError } from './errors.js';

/**
 * An OSTree sysroot (a device's root, or a plain directory that will become one in an image):
 * initialise it, add an OS, deploy commits, choose the default, pin, undeploy, clean up.
 * Operations that change the sysroot take its lock and reload it, so `deployments()` is current
 * after each call.
 *
 * @example
 * const sr = await Sysroot.open('/tmp/sysroot');
 * await sr.initFs(); await sr.osInit('debian');
 * await sr.deploy('debian', checksum, { kargs: ['root=UUID=…', 'console=ttyAMA0'] });
 */
export interface Deployment {
  /** Position in the boot order: 0 is the default. */
  index: number;
  osname: string;
  checksum: string;
  serial: number;
  bootChecksum: string;
  bootSerial: number;
  pinned: boolean;
  staged: boolean;
  /** booted: running now; pending: will boot next (not booted); rollback: the previous one (only relative to a booted deployment). */
  role: 'booted' | 'pending' | 'rollback' | 'other';
  kargs: string;
  origin: string;
  /** Relative to the sysroot: ostree/deploy/<os>/deploy/<checksum>.<serial> */
  path: string;
}

export interface DeployOptions {
  /** Kernel arguments for this deployment (default: those of the merge deployment). */
  kargs?: string[];
  /** The origin: a refspec (`remote:ref` or `ref`) written as the deployment's origin file (default: `revision`, as `ostree admin deploy` does). */
  refspec?: string;
  /** Stage: finalised at shutdown by ostree-finalize-staged (only on a booted OSTree system). */
  staged?: boolean;
  /** Deploy but keep the current default first (the new one is not booted next). */
  notDefault?: boolean;
  /** Keep every existing deployment (default: keep booted/pending/rollback as ostree admin deploy does). */
  retain?: boolean;
}

export class Sysroot {
  private handle: Ptr;

  private constructor(
    handle: Ptr,
    readonly path: string,
  ) {
    this.handle = handle;
  }

  /** A sysroot object for `path` (created as an empty directory if missing); call initFs or load next. */
  static async open(path: string): Promise<Sysroot> {
    const abs = resolvePath(path);
    await mkdir(abs, { recursive: true });
    const file = C.g_file_new_for_path(abs);
    try {
      return new Sysroot(C.ostree_sysroot_new(file), abs);
    } finally {
      unref(file);
    }
  }

  get ptr(): Ptr {
    if (!this.handle) throw new Error(`sysroot ${this.path} used after close(), this is a bug`);
    return this.handle;
  }

  close(): void {
    unref(this.handle);
    this.handle = null;
  }

  /** `ostree admin init-fs --modern`: boot/ and the ostree/ layout and repository (idempotent). */
  async initFs(): Promise<void> {
    await mkdir(join(this.path, 'boot'), { recursive: true, mode: 0o755 });
    const err = errorOut();
    check(await callAsync(C.ostree_sysroot_ensure_initialized, this.ptr, null, err), err, 'initialising the sysroot', this.path);
    await this.load();
  }

  /** `ostree admin os-init OSNAME`. */
  async osInit(osname: string): Promise<void> {
    await this.locked(`adding OS ${osname}`, async () => {
      const err = errorOut();
      check(await callAsync(C.ostree_sysroot_init_osname, this.ptr, osname, null, err), err, `adding OS ${osname}`, this.path);
    });
  }

  async load(): Promise<void> {
    const err = errorOut();
    check(await callAsync(C.ostree_sysroot_load, this.ptr, null, err), err, 'loading the sysroot', this.path);
  }

  /** The sysroot's repository, as a raw handle kept alive by the sysroot (see Repo.fromSysroot). */
  repoPtr(): Ptr {
    return C.ostree_sysroot_repo(this.ptr);
  }

  /** Deployments in boot order, with their roles. */
  deployments(): Deployment[] {
    const list = this.rawDeployments();
    const booted = C.ostree_sysroot_get_booted_deployment(this.ptr);
    const out: Deployment[] = [];
    const roleCache = new Map<string, { pending: Ptr; rollback: Ptr }>();
    try {
      for (const d of list) {
        const osname = C.ostree_deployment_get_osname(d) as string;
        let q = roleCache.get(osname);
        if (!q) {
          const p: Ptr[] = [null];
          const r: Ptr[] = [null];
          C.ostree_sysroot_query_deployments_for(this.ptr, osname, p, r);
          q = { pending: p[0], rollback: r[0] };
          roleCache.set(osname, q);
        }
        const role = booted && C.ostree_deployment_equal(d, booted) ? 'booted' : q.pending && C.ostree_deployment_equal(d, q.pending) ? 'pending' : q.rollback && C.ostree_deployment_equal(d, q.rollback) ? 'rollback' : 'other';
        const bootconfig = C.ostree_deployment_get_bootconfig(d);
        const originKf = C.ostree_deployment_get_origin(d);
        out.push({
          index: C.ostree_deployment_get_index(d) as number,
          osname,
          checksum: C.ostree_deployment_get_csum(d) as string,
          serial: C.ostree_deployment_get_deployserial(d) as number,
          bootChecksum: C.ostree_deployment_get_bootcsum(d) as string,
          bootSerial: C.ostree_deployment_get_bootserial(d) as number,
          pinned: Boolean(C.ostree_deployment_is_pinned(d)),
          staged: Boolean(C.ostree_deployment_is_staged(d)),
          role,
          kargs: bootconfig ? ((C.ostree_bootconfig_parser_get(bootconfig, 'options') as string | null) ?? '') : '',
          origin: originKf ? keyFileText(originKf) : '',
          path: takeString(C.ostree_sysroot_get_deployment_dirpath(this.ptr, d)) ?? '',
        });
      }
    } finally {
      for (const q of roleCache.values()) unref(q.pending, q.rollback);
    }
    return out;
  }

  /** Deploys a commit (checksum or ref) of the sysroot's repository for `osname`; resolves with the new deployment. */
  async deploy(osname: string, revision: string, options: DeployOptions = {}): Promise<Deployment> {
    let created: { checksum: string; serial: number } | undefined;
    await this.locked(`deploying ${revision}`, async () => {
      // libostree wants a full checksum here (anything else trips an assertion and fails without an error).
      const rev: Ptr[] = [null];
      const rerr = errorOut();
      check(C.ostree_repo_resolve_rev(this.repoPtr(), revision, 0, rev, rerr), rerr, `resolving ${revision}`, this.path);
      const checksum = takeString(rev[0])!;
      const merge = C.ostree_sysroot_get_merge_deployment(this.ptr, osname);
      // Every deployment gets an origin, as with `ostree admin deploy`: pinning and upgrades need one.
      const origin = C.ostree_sysroot_origin_new_from_refspec(this.ptr, options.refspec ?? revision);
      const opts = {
        unused_bools: [0, 0, 0, 0, 0, 0, 0, 0],
        unused_ints: [0, 0, 0, 0, 0, 0, 0, 0],
        override_kernel_argv: options.kargs ? [...options.kargs, null] : null,
        overlay_initrds: null,
        unused_ptrs: [null, null, null, null, null, null],
      };
      const out: Ptr[] = [null];
      const err = errorOut();
      try {
        const fn = options.staged ? C.ostree_sysroot_stage_tree_with_options : C.ostree_sysroot_deploy_tree_with_options;
        check(await callAsync(fn, this.ptr, osname, checksum, origin, merge, opts, out, null, err), err, `${options.staged ? 'staging' : 'deploying'} ${revision}`, this.path);
        const d = out[0];
        created = { checksum: C.ostree_deployment_get_csum(d) as string, serial: C.ostree_deployment_get_deployserial(d) as number };
        if (!options.staged) {
          const flags = (options.notDefault ? 1 << 1 : 0) | (options.retain ? 1 << 0 : 0);
          check(await callAsync(C.ostree_sysroot_simple_write_deployment, this.ptr, osname, d, merge, flags, null, err), err, 'writing the deployment list', this.path);
        }
        unref(d);
      } finally {
        C.g_key_file_unref(origin);
        unref(merge);
      }
    });
    const d = this.deployments().find((x) => x.checksum === created!.checksum && x.serial === created!.serial);
    if (!d) throw new Error(`deployment ${created!.checksum}.${created!.serial} missing after deploy, this is a bug`);
    return d;
  }

  /** Makes the deployment at `index` the default (first); the others keep their order. */
  async setDefault(index: number): Promise<void> {
    await this.rewrite(`making deployment ${index} the default`, (list) => {
      const chosen = this.pick(list, index);
      return [chosen, ...list.filter((d) => d !== chosen)];
    });
  }

  /** Removes the deployment at `index` (its files go at the next cleanup, which this runs). */
  async undeploy(index: number): Promise<void> {
    await this.rewrite(`undeploying deployment ${index}`, (list) => {
      const chosen = this.pick(list, index);
      const booted = C.ostree_sysroot_get_booted_deployment(this.ptr);
      if (booted && C.ostree_deployment_equal(chosen, booted)) {
        throw new OstreeError(`undeploying deployment ${index}`, this.path, 'ota', 0, 'it is the booted deployment');
      }
      return list.filter((d) => d !== chosen);
    });
  }

  /** Pins (or unpins) a deployment: pinned ones are never garbage-collected. */
  async pin(index: number, pinned = true): Promise<void> {
    await this.locked(`pinning deployment ${index}`, async () => {
      const d = this.pick(this.rawDeployments(), index);
      const err = errorOut();
      check(C.ostree_sysroot_deployment_set_pinned(this.ptr, d, pinned ? 1 : 0, err), err, `pinning deployment ${index}`, this.path);
    });
  }

  /** Deletes unreferenced deployments, boot files and repository objects. */
  async cleanup(): Promise<void> {
    await this.locked('cleaning up', async () => {
      const err = errorOut();
      check(await callAsync(C.ostree_sysroot_cleanup, this.ptr, null, err), err, 'cleaning up', this.path);
    });
  }

  /** Replaces a deployment's origin file (a GKeyFile text, e.g. `[origin]\nrefspec=remote:ref\n`). */
  async writeOrigin(index: number, originText: string): Promise<void> {
    await this.locked(`writing the origin of deployment ${index}`, async () => {
      const d = this.pick(this.rawDeployments(), index);
      const kf = C.g_key_file_new();
      try {
        const err = errorOut();
        check(C.g_key_file_load_from_data(kf, originText, Buffer.byteLength(originText), 0, err), err, 'parsing the origin', this.path);
        check(await callAsync(C.ostree_sysroot_write_origin_file, this.ptr, d, kf, null, err), err, `writing the origin of deployment ${index}`, this.path);
      } finally {
        C.g_key_file_unref(kf);
      }
    });
  }

  private rawDeployments(): Ptr[] {
    const arr = C.ostree_sysroot_get_deployments(this.ptr);
    try {
      const { pdata, len } = koffi.decode(arr, GPtrArrayStruct) as { pdata: Ptr; len: number };
      return len === 0 ? [] : (koffi.decode(pdata, koffi.array('void *', len)) as Ptr[]);
    } finally {
      // The array holds references; the deployments stay alive through the sysroot's own list.
      C.g_ptr_array_unref(arr);
    }
  }

  private pick(list: Ptr[], index: number): Ptr {
    const d = list[index];
    if (!d) throw new OstreeError(`selecting deployment ${index}`, this.path, 'ota', 0, `there are ${list.length} deployments`);
    return d;
  }

  private async rewrite(what: string, reorder: (list: Ptr[]) => Ptr[]): Promise<void> {
    await this.locked(what, async () => {
      const next = reorder(this.rawDeployments());
      const arr = C.g_ptr_array_new();
      try {
        for (const d of next) C.g_ptr_array_add(arr, d);
        const err = errorOut();
        check(await callAsync(C.ostree_sysroot_write_deployments, this.ptr, arr, null, err), err, what, this.path);
      } finally {
        C.g_ptr_array_unref(arr);
      }
    });
  }

  private async locked(what: string, fn: () => Promise<void>): Promise<void> {
    const err = errorOut();
    check(await callAsync(C.ostree_sysroot_lock, this.ptr, err), err, `locking the sysroot for ${what}`, this.path);
    try {
      await this.load();
      await fn();
    } finally {
      C.ostree_sysroot_unlock(this.ptr);
    }
    await this.load();
  }
}

function keyFileText(kf: Ptr): string {
  const len = [0];
  const err = errorOut();
  const data = C.g_key_file_to_data(kf, len, err);
  if (err[0]) C.g_error_free(err[0]);
  return takeString(data) ?? '';
}

