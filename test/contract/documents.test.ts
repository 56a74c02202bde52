import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { OtaError } from '../../common/errors.js';
import { DOCUMENT_SCHEMAS, LIMITS, MAX_DOCUMENT_BYTES, parseDocument, safeParseDocument, type DocumentKind } from '../../contract/index.js';

// The golden files are the wire format: a change to a schema shows up as a diff of
// golden/<kind>.schema.json (regenerate with OTA_UPDATE_GOLDEN=1 and review the diff), and the
// example documents must keep parsing. Devices and the fleet on older versions read these bytes.
const GOLDEN = join(import.meta.dirname, 'golden');
const KINDS = Object.keys(DOCUMENT_SCHEMAS) as DocumentKind[];

async function golden(kind: DocumentKind): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(GOLDEN, `${kind.toLowerCase()}.json`), 'utf8')) as Record<string, unknown>;
}

function refused(kind: DocumentKind, input: unknown): OtaError {
  try {
    parseDocument(kind, input as object);
  } catch (e) {
    expect(e).toBeInstanceOf(OtaError);
    expect((e as OtaError).code).toBe('ERR_OTA_DOCUMENT');
    return e as OtaError;
  }
  throw new Error(`the ${kind} document was accepted`);
}

// Fields added after version 1 shipped: absent in older agents' documents (docs/contract.md, "Status", "Inventory").
const OPTIONAL: Partial<Record<DocumentKind, string[]>> = { Status: ['group'], Inventory: ['codename'] };

describe('documents', () => {
  it.each(KINDS)('%s: the golden document parses to itself, from text, bytes and value', async (kind) => {
    const doc = await golden(kind);
    expect(doc.kind).toBe(kind);
    expect(parseDocument(kind, doc)).toEqual(doc);
    expect(parseDocument(kind, JSON.stringify(doc))).toEqual(doc);
    expect(parseDocument(kind, Buffer.from(JSON.stringify(doc)))).toEqual(doc);
  });

  it.each(KINDS)('%s: the schema is the golden JSON Schema', async (kind) => {
    const file = join(GOLDEN, `${kind.toLowerCase()}.schema.json`);
    const actual = `${JSON.stringify(z.toJSONSchema(DOCUMENT_SCHEMAS[kind], { unrepresentable: 'any' }), null, 2)}\n`;
    if (process.env.OTA_UPDATE_GOLDEN === '1') await writeFile(file, actual);
    expect(actual).toBe(await readFile(file, 'utf8'));
  });

  it.each(KINDS)('%s: refuses an unknown key, each missing field, another apiVersion or kind', async (kind) => {
    const doc = await golden(kind);
    expect(refused(kind, { ...doc, extra: 1 }).message).toContain('extra');
    for (const field of Object.keys(doc).filter((f) => !(OPTIONAL[kind] ?? []).includes(f))) {
      const { [field]: _gone, ...rest } = doc;
      expect(refused(kind, rest).message).toContain(field);
    }
    refused(kind, { ...doc, apiVersion: 'deb-ota/v2' });
    refused(kind, { ...doc, kind: kind === 'Event' ? 'Status' : 'Event' });
  });

  it('reads documents of agents that predate the optional fields (group, codename, package sources)', async () => {
    const { group: _g, ...status } = await golden('Status');
    expect(parseDocument('Status', status)).toEqual(status);
    const { codename: _c, ...inventory } = await golden('Inventory');
    const packages = (inventory.packages as Record<string, unknown>[]).map(({ name, version, arch }) => ({ name, version, arch }));
    expect(parseDocument('Inventory', { ...inventory, packages }).packages).toEqual(packages);
    expect(refused('Inventory', { ...inventory, packages: [{ ...packages[0], source: 'Bad Name' }] }).message).toMatch(/packages\[0\]\.source/);
  });

  it('refuses what breaks a field: checksum, version, id, time', async () => {
    const release = await golden('Release');
    expect(refused('Release', { ...release, commit: 'A'.repeat(64) }).message).toMatch(/^invalid Release document: commit:/);
    expect(refused('Release', { ...release, version: '1.0-' }).message).toMatch(/version: not a Debian version: revision number is empty/);
    expect(refused('Release', { ...release, group: 'a/b' }).message).toMatch(/group/);
    expect(refused('Release', { ...release, publishedAt: 'yesterday' }).message).toMatch(/publishedAt/);
    expect(refused('Release', { ...release, fullPullBytes: -1 }).message).toMatch(/fullPullBytes/);
    const status = await golden('Status');
    expect(refused('Status', { ...status, phase: 'dancing' }).message).toMatch(/phase/);
    expect(refused('Status', { ...status, device: 'gw/1' }).message).toMatch(/device/);
  });

  it('keeps untrusted documents small: strings, arrays and the whole input', async () => {
    const event = await golden('Event');
    expect(refused('Event', { ...event, reason: 'x'.repeat(LIMITS.textChars + 1) }).message).toMatch(/reason/);
    const inventory = await golden('Inventory');
    const pkg = { name: 'a', version: '1', arch: 'all' };
    expect(refused('Inventory', { ...inventory, packages: Array.from({ length: LIMITS.packages + 1 }, () => pkg) }).message).toMatch(/packages/);
    expect(refused('Inventory', 'x'.repeat(MAX_DOCUMENT_BYTES + 1)).message).toMatch(/over the limit/);
    expect(refused('Inventory', '{"kind":').message).toMatch(/not UTF-8 JSON/);
    expect(refused('Inventory', Buffer.from([0x7b, 0xff, 0x7d])).message).toMatch(/not UTF-8 JSON/);
    const telemetry = await golden('Telemetry');
    expect(refused('Telemetry', { ...telemetry, disk: Array.from({ length: LIMITS.disks + 1 }, () => ({ mount: '/', totalBytes: 1, availableBytes: 1 })) }).message).toMatch(/disk/);
  });

  it('safeParseDocument returns the document or the error instead of throwing', async () => {
    const event = await golden('Event');
    expect(safeParseDocument('Event', JSON.stringify(event))).toEqual({ ok: true, value: event });
    const bad = safeParseDocument('Event', { ...event, time: 'now' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.code).toBe('ERR_OTA_DOCUMENT');
  });

  it('Presence: online is a boolean, connectedAt a time; the command outcomes are event types', async () => {
    const presence = await golden('Presence');
    expect(parseDocument('Presence', { ...presence, online: true }).online).toBe(true);
    expect(refused('Presence', { ...presence, online: 'yes' }).message).toMatch(/online/);
    expect(refused('Presence', { ...presence, connectedAt: null }).message).toMatch(/connectedAt/);
    const event = await golden('Event');
    for (const type of ['command-completed', 'command-failed']) expect(parseDocument('Event', { ...event, type }).type).toBe(type);
  });

  it('accepts every command action, and belowFloor only with a version', async () => {
    const command = await golden('Command');
    for (const action of [{ type: 'update' }, { type: 'update', version: '2.0' }, { type: 'rollback' }, { type: 'reboot' }, { type: 'health-check' }, { type: 'report' }]) {
      expect(parseDocument('Command', { ...command, action }).action).toEqual(action);
    }
    expect(parseDocument('Command', { ...command, target: { group: 'canary' } }).target).toEqual({ group: 'canary' });
    refused('Command', { ...command, action: { type: 'rollback', belowFloor: true } });
    refused('Command', { ...command, action: { type: 'reboot', version: '1' } });
    refused('Command', { ...command, target: { device: 'a', group: 'b' } });
    refused('Command', { ...command, action: { type: 'format-disk' } });
  });
});
