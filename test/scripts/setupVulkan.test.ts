// scripts/setup-vulkan.sh: Dawn decides whether an adapter is missing, so a machine whose only
// driver comes through VK_DRIVER_FILES, with no ldconfig, installs nothing; and where Dawn
// cannot be asked, the fallback check against a long `ldconfig -p` listing (as on a machine
// with many libraries) reads it whole, never fails because a pipe closed early, and so never
// falls through to installing. A fake apt-get records any call.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('setup-vulkan');
const SCRIPT = new URL('../../scripts/setup-vulkan.sh', import.meta.url).pathname;

test('a Vulkan loader listed first in 1 MB of ldconfig output is found, every time', () => {
  const bin = mkdtempSync(join(tmpdir(), 'lensgpu-fakebin-'));
  try {
    const marker = join(bin, 'apt-get-called');
    // The loader first, then far more than a pipe buffer (64 KiB) of other libraries.
    writeFileSync(
      join(bin, 'ldconfig'),
      '#!/bin/sh\necho "12000 libs found in cache"\necho "\tlibvulkan.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libvulkan.so.1"\n' +
        'i=0; while [ $i -lt 16000 ]; do echo "\tlibother$i.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libother$i.so.1 padding padding"; i=$((i+1)); done\n',
    );
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\ntouch ${marker}\nexit 1\n`);
    // Dawn cannot be asked: this node says webgpu does not load (has-adapter.mjs's exit 2).
    writeFileSync(join(bin, 'node'), '#!/bin/sh\nexit 2\n');
    for (const f of ['ldconfig', 'apt-get', 'node']) chmodSync(join(bin, f), 0o755);
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      assert.is(r.status, 0, `try ${i + 1}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /a Vulkan driver is present; nothing to install/);
      assert.not.ok(existsSync(marker), `try ${i + 1}: the check failed and apt-get was run`);
    }
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('the only driver given by VK_DRIVER_FILES, no ldconfig on the PATH: Dawn finds the adapter, nothing is installed', () => {
  const icd = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json'].find((f) => existsSync(f));
  if (!icd) return void console.log('  (skipped: no lavapipe ICD file here to point VK_DRIVER_FILES at)');
  const bin = mkdtempSync(join(tmpdir(), 'lensgpu-fakebin-'));
  try {
    const marker = join(bin, 'apt-get-called');
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\ntouch ${marker}\nexit 1\n`);
    chmodSync(join(bin, 'apt-get'), 0o755);
    // No sbin folder on the PATH: ldconfig is not found.
    const path = [bin, dirname(process.execPath), '/usr/bin', '/bin'].join(':');
    assert.is(spawnSync('bash', ['-c', 'command -v ldconfig'], { env: { PATH: path } }).status, 1, 'ldconfig is still on the PATH');
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', env: { ...process.env, PATH: path, VK_DRIVER_FILES: icd, VK_ICD_FILENAMES: '' } });
    assert.is(r.status, 0, `exit ${r.status}\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /Dawn finds an adapter \(.+\); nothing to install/);
    assert.not.ok(existsSync(marker), 'apt-get was run');
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
