import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { OtaError } from '../../common/errors.js';
import type { EventSink } from '../../common/events.js';
import { fsReason, isMissing } from '../../common/fs-errors.js';
import { aclManifestSchema, mosquittoAcl, mosquittoConf, type AclManifest } from './acl-files.js';
import { checkPasswdHash, newPassword, parsePasswd, passwdLine } from './acl-password.js';
import type { AclPlan, ExistingAcl, PlannedUser } from './acl-plan.js';
import { preparePki, type Pki } from './acl-pki.js';

/**
 * The output folder of `ota fleet acl` (docs/fleet.md, "Access control"): read what an earlier
 * run left, then carry out a plan in a new folder beside it and swap the two, so the folder is
 * always one run's whole output, never half of one.
 *
 * @example
 * const existing = await readExisting(dir);
 * const files = await writeAcl(dir, planAcl(fleet, existing, options), { existing });
 */
export const LAYOUT = {
  manifest: 'acl.json',
  caCert: 'ca/ca.crt',
  caKey: 'ca/ca.key',
  broker: 'broker',
  serverCert: 'broker/server.crt',
  serverKey: 'broker/server.key',
  brokerCa: 'broker/ca.crt',
  acl: 'broker/acl',
  passwd: 'broker/passwd',
  conf: 'broker/mosquitto.conf',
} as const;

/** A user's own folder: what provisioning copies onto the device (or the operator's machine). */
export function userDir(role: 'device' | 'operator', id: string): string {
  return join(role === 'device' ? 'devices' : 'operators', id);
}

export async function readExisting(dir: string): Promise<ExistingAcl | null> {
  await recoverSwap(dir);
  let text: string;
  try {
    text = await readFile(join(dir, LAYOUT.manifest), 'utf8');
  } catch (e) {
    if (!isMissing(e)) throw new OtaError('ERR_OTA_IO', `cannot read ${join(dir, LAYOUT.manifest)}: ${fsReason(e)}`, { cause: e });
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.length > 0) throw new OtaError('ERR_OTA_USAGE', `${dir} is not empty and holds no ${LAYOUT.manifest}: not an output folder of ota fleet acl`, { hint: 'choose a new or empty folder with -o; a run replaces the whole folder' });
    return null;
  }
  const parsed = aclManifestSchema.safeParse(safeJson(text));
  if (!parsed.success) throw new OtaError('ERR_OTA_USAGE', `${join(dir, LAYOUT.manifest)} is not a fleet ACL record: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { hint: 'restore it, or start over with a new -o folder (all credentials are new then)' });
  const manifest = parsed.data;
  const passwords = new Set<string>();
  const certs = new Set<string>();
  for (const [role, ids] of [['operator', manifest.operators], ['device', manifest.devices.map((d) => d.id)]] as const) {
    for (const id of ids) {
      const u = join(dir, userDir(role, id));
      if (await exists(join(u, 'password'))) passwords.add(id);
      if ((await exists(join(u, 'client.crt'))) && (await exists(join(u, 'client.key')))) certs.add(id);
    }
  }
  const hasCa = (await exists(join(dir, LAYOUT.caCert))) && (await exists(join(dir, LAYOUT.caKey)));
  const hasServerCert = (await exists(join(dir, LAYOUT.serverCert))) && (await exists(join(dir, LAYOUT.serverKey)));
  return { manifest, hasCa, hasServerCert, passwords, certs };
}

export interface WrittenAcl {
  dir: string;
  files: { manifest: string; acl: string; passwd: string; conf: string; caCert: string; serverCert: string; serverKey: string };
}

/** Carries out `plan` into a fresh folder, then puts it where `dir` was. */
export async function writeAcl(dir: string, plan: AclPlan, o: { existing: ExistingAcl | null; onEvent?: EventSink }): Promise<WrittenAcl> {
  const final = resolve(dir);
  const tmp = join(dirname(final), `.${basename(final)}.new-${randomBytes(4).toString('hex')}`);
  await mkdir(join(tmp, 'ca'), { recursive: true, mode: 0o700 });
  await mkdir(join(tmp, LAYOUT.broker), { mode: 0o700 });
  try {
    const pki = await preparePki(tmp);
    await writeCa(final, tmp, plan, pki);
    const oldPasswd = plan.users.some((u) => u.password === 'kept') ? parsePasswd(await readFile(join(final, LAYOUT.passwd), 'utf8').catch(() => '')) : new Map<string, string>();
    const lines = await writeUsers({ final, tmp, plan, pki, oldPasswd, existing: o.existing, onEvent: o.onEvent });
    await rm(join(tmp, 'openssl.cnf'));
    await writeBrokerFiles(tmp, final, plan.manifest, lines);
    await swapInto(tmp, final);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const f = (n: string) => join(final, n);
  return { dir: final, files: { manifest: f(LAYOUT.manifest), acl: f(LAYOUT.acl), passwd: f(LAYOUT.passwd), conf: f(LAYOUT.conf), caCert: f(LAYOUT.caCert), serverCert: f(LAYOUT.serverCert), serverKey: f(LAYOUT.serverKey) } };
}

async function writeCa(final: string, tmp: string, plan: AclPlan, pki: Pki): Promise<void> {
  const t = (n: string) => join(tmp, n);
  if (plan.ca === 'kept') {
    await copyFile(join(final, LAYOUT.caCert), t(LAYOUT.caCert));
    await copyFile(join(final, LAYOUT.caKey), t(LAYOUT.caKey));
  } else {
    await pki.makeCa(t(LAYOUT.caCert), t(LAYOUT.caKey));
  }
  await copyFile(t(LAYOUT.caCert), t(LAYOUT.brokerCa));
  if (plan.serverCert === 'kept') {
    await copyFile(join(final, LAYOUT.serverCert), t(LAYOUT.serverCert));
    await copyFile(join(final, LAYOUT.serverKey), t(LAYOUT.serverKey));
  } else {
    const names = plan.manifest.brokerNames;
    await pki.issue({ kind: 'server', cn: names[0] ?? 'localhost', names, certFile: t(LAYOUT.serverCert), keyFile: t(LAYOUT.serverKey), caCert: t(LAYOUT.caCert), caKey: t(LAYOUT.caKey) });
  }
}

interface UsersJob {
  final: string;
  tmp: string;
  plan: AclPlan;
  pki: Pki;
  oldPasswd: Map<string, string>;
  existing: ExistingAcl | null;
  onEvent?: EventSink;
}

/** Each user's folder (password 0600, key 0600, certificate, CA), a few openssl runs at a time; returns the passwd lines in plan order. */
async function writeUsers(job: UsersJob): Promise<string[]> {
  const lines: string[] = new Array<string>(job.plan.users.length);
  const oldRole = new Map<string, 'device' | 'operator'>([...(job.existing?.manifest.operators ?? []).map((id) => [id, 'operator'] as const), ...(job.existing?.manifest.devices ?? []).map((d) => [d.id, 'device'] as const)]);
  let next = 0;
  let done = 0;
  const total = job.plan.users.length;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const u = job.plan.users[i]!;
      lines[i] = await writeUser(job, u, join(job.final, userDir(oldRole.get(u.id) ?? u.role, u.id)));
      done++;
      if (done === total || done % 100 === 0) job.onEvent?.({ phase: 'acl', message: `credentials of ${done} of ${total} users`, current: done, total });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return lines;
}

async function writeUser(job: UsersJob, u: PlannedUser, oldDir: string): Promise<string> {
  const t = (n: string) => join(job.tmp, n);
  const dir = t(userDir(u.role, u.id));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const password = u.password === 'kept' ? (await readFile(join(oldDir, 'password'), 'utf8')).trim() : newPassword();
  await writeFile(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  if (u.cert === 'kept') {
    await copyFile(join(oldDir, 'client.crt'), join(dir, 'client.crt'));
    await copyFile(join(oldDir, 'client.key'), join(dir, 'client.key'));
  } else {
    await job.pki.issue({ kind: 'client', cn: u.id, certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key'), caCert: t(LAYOUT.caCert), caKey: t(LAYOUT.caKey) });
  }
  await copyFile(t(LAYOUT.caCert), join(dir, 'ca.crt'));
  // An unchanged password keeps its hash line, so a re-run leaves the passwd file as it was.
  const old = u.password === 'kept' ? job.oldPasswd.get(u.id) : undefined;
  return old !== undefined && checkPasswdHash(old, password) ? `${u.id}:${old}` : passwdLine(u.id, password);
}

async function writeBrokerFiles(tmp: string, final: string, m: AclManifest, passwd: string[]): Promise<void> {
  await writeFile(join(tmp, LAYOUT.passwd), `${passwd.join('\n')}\n`, { mode: 0o600 });
  await writeFile(join(tmp, LAYOUT.acl), mosquittoAcl(m));
  await writeFile(join(tmp, LAYOUT.conf), mosquittoConf({ brokerDir: join(final, LAYOUT.broker) }));
  await writeFile(join(tmp, LAYOUT.manifest), `${JSON.stringify(m, null, 2)}\n`);
}

/**
 * Puts the new folder in place. Two renames, with the old folder kept aside between them: a crash
 * there leaves no `dir`, and the next run (or `ota serve`) puts the old one back first.
 */
async function swapInto(tmp: string, final: string): Promise<void> {
  const aside = join(dirname(final), `.${basename(final)}.old`);
  await rm(aside, { recursive: true, force: true });
  const hadOld = await exists(final);
  if (hadOld) await rename(final, aside);
  await rename(tmp, final);
  if (hadOld) await rm(aside, { recursive: true, force: true });
}

/** Finishes or undoes a swap a crash interrupted, and drops new folders a crash left behind. */
export async function recoverSwap(dir: string): Promise<void> {
  const final = resolve(dir);
  const aside = join(dirname(final), `.${basename(final)}.old`);
  if (!(await exists(final)) && (await exists(aside))) await rename(aside, final);
  const prefix = `.${basename(final)}.new-`;
  for (const name of await readdir(dirname(final)).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(join(dirname(final), name), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
