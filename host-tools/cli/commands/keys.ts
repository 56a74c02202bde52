import type { Command } from 'commander';
import { generateKeys, type KeysReport } from '../../keys/generate.js';
import { showKeys } from '../../keys/show.js';
import { trustKeys, untrustKey, type PublishedKeysReport } from '../../keys/trust.js';
import { printJson } from '../../../common/cli-json.js';
import type { CliIo } from '../io.js';

/** `ota keys generate|show|trust|untrust`: the release key (docs/releases.md, "The trust chain"). */
export function registerKeys(program: Command, io: CliIo): void {
  const { out } = io;
  const keys = program.command('keys').description('make and show the release signing key (Ed25519 JWK, ostree ed25519 files, optional GPG key)');
  keys
    .command('generate')
    .description('make a new release key in DIR: release.jwk (0600), release.pub.jwks, ostree-ed25519.sec/.pub, and with --gpg a GPG key')
    .argument('<dir>', 'the key directory (made 0700 when new)')
    .option('--gpg', 'also make a GPG signing key in DIR/gpg and export it to DIR/release.gpg, for stock ostree clients')
    .option('--force', 'replace keys already in DIR')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (dir: string, opts: { gpg?: boolean; force?: boolean; json?: boolean }) => {
      const r = await generateKeys(dir, { gpg: opts.gpg === true, force: opts.force === true });
      if (opts.json) return printJson(out, r);
      printReport(out, r);
      out(`release key ${r.kid} written to ${dir}${r.gpg ? ` with GPG key ${r.gpg.fingerprint}` : ''} (private files 0600, never printed)`);
    });
  keys
    .command('show')
    .description('print the public parts of a key directory or key file: kid, public JWK, ostree public key, GPG fingerprint')
    .argument('<dir-or-file>', 'a key directory, a release.jwk, or a public JWK set such as release.pub.jwks')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (path: string, opts: { json?: boolean }) => {
      const r = await showKeys(path);
      if (opts.json) return printJson(out, r);
      printReport(out, r);
      out(`${path}: ${r.keys.length} public key${r.keys.length === 1 ? '' : 's'}${r.privateKey ? ' and the private key' : ''}${r.gpg ? ', a GPG key' : ''}`);
    });
  keys
    .command('trust')
    .description("add public release keys to a published directory's keys.jwks, so `ota publish` may sign with them (rotation)")
    .argument('<published>', 'the directory `ota publish --to` wrote')
    .argument('<key>', 'the new key: its directory, release.pub.jwks, or a public JWK')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    .action(async (published: string, key: string, opts: { json?: boolean }) => {
      const r = await trustKeys(published, key);
      if (opts.json) return printJson(out, r);
      out(r.added.length > 0 ? `${published}: trusts ${r.added.join(', ')} now (${keyCount(r)})` : `${published}: already trusts that key (${keyCount(r)})`);
    });
  keys
    .command('untrust')
    .description("drop a release key from a published directory's keys.jwks, once devices trust its successor")
    .argument('<published>', 'the directory `ota publish --to` wrote')
    .argument('<kid>', 'the key id to drop (`ota keys show PUBLISHED/keys.jwks` lists them)')
    .option('--json', 'print one JSON document on stdout (docs/cli-json.md)')
    // A kid is a base64url thumbprint: one in 64 starts with '-', which must reach untrustKey
    // as the id it is (and be refused there if it names no key), not as an unknown option.
    .allowUnknownOption()
    .action(async (published: string, kid: string, opts: { json?: boolean }) => {
      const r = await untrustKey(published, kid);
      if (opts.json) return printJson(out, r);
      out(`${published}: no longer trusts ${kid} (${keyCount(r)})`);
    });
}

function keyCount(r: PublishedKeysReport): string {
  return `${r.kids.length} key${r.kids.length === 1 ? '' : 's'}`;
}

function printReport(out: (line: string) => void, r: KeysReport): void {
  for (const k of r.keys) {
    out(`kid: ${k.kid}`);
    out(`  public JWK: ${JSON.stringify(k.publicJwk)}`);
    out(`  ostree ed25519 public key: ${k.ostreePublicKey}`);
  }
  if (r.gpg) out(`gpg: ${r.gpg.fingerprint}${r.gpg.uid ? ` ${r.gpg.uid}` : ''}`);
}
