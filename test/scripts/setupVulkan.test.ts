// scripts/setup-vulkan.sh's driver check against a long `ldconfig -p` listing (as on a
// machine with many libraries): the check must read it whole, never fail because a pipe
// closed early, and so never fall through to installing (a fake apt-get records any call).
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    for (const f of ['ldconfig', 'apt-get']) chmodSync(join(bin, f), 0o755);
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

test.run();
