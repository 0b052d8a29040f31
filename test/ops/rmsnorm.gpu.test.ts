// Frozen RMSNorm forward and backward against PyTorch (Hugging Face LlamaRMSNorm).
import { suite } from 'uvu';
import { uniformF32 } from '../../src/data/counterRng.ts';
import { RmsNorm, rmsnormBackwardRef } from '../../src/ops/rmsnorm.ts';
import { expectClose } from '../helpers/close.ts';
import { fixture } from '../helpers/fixtures.ts';
import { rowsBatch, runBound } from '../helpers/bound.ts';
import { buf, f32, testGpu } from '../helpers/gpu.ts';

const test = suite('rmsnorm');

async function runCase(name: string, subgroups: boolean) {
  const gpu = await testGpu();
  const fx = fixture(name);
  const { d, rows, eps, scale, seed } = fx.meta;
  const y = fx.has('y') ? fx.f32('y') : uniformF32(seed, rows * d, scale);
  const dz = fx.has('dz') ? fx.f32('dz') : uniformF32(seed + 2, rows * d, 1);
  const norm = await RmsNorm.create(gpu, d, eps, subgroups ? 'subgroup' : 'workgroup');
  const b = {
    y: buf(gpu, 'y', y),
    gamma: buf(gpu, 'gamma', fx.f32('gamma')),
    z: buf(gpu, 'z', new Float32Array(rows * d)),
    rstd: buf(gpu, 'rstd', new Float32Array(rows)),
    dz: buf(gpu, 'dz', dz),
    dy: buf(gpu, 'dy', new Float32Array(rows * d)),
  };
  await runBound(gpu, `rmsnorm ${name}`, (t) => {
    const [forward, backward] = [norm.bindForward(t, b, rows), norm.bindBackward(t, b, rows)];
    return (pass) => {
      forward.encode(pass, rowsBatch(rows));
      backward.encode(pass, rowsBatch(rows));
    };
  });
  expectClose(`${name} z`, await f32(gpu, b.z, rows * d), fx.f32('z'), { atol: 1e-6, rtol: 2e-6 });
  // dy scales as 1/rms: tiny hidden states have large gradients
  const dyRef = fx.f32('dy');
  const dyScale = Math.max(...Array.from(dyRef, Math.abs));
  expectClose(`${name} dy`, await f32(gpu, b.dy, rows * d), dyRef, { atol: 2e-6 * dyScale, rtol: 1e-5 });
}

for (const subgroups of [false, true]) {
  const t = (title: string, fn: () => Promise<void>) => test(`${title} (${subgroups ? 'a row a subgroup' : 'a row a workgroup'})`, fn);
  t('d 48, batch 33', () => runCase('rmsnorm_d48', subgroups));
  t('d 48, hidden states ×1e-3 (eps matters)', () => runCase('rmsnorm_d48_tiny', subgroups));
  t('d 2048, batch 33', () => runCase('rmsnorm_d2048', subgroups));
}
test('the TypeScript reference agrees with PyTorch', () => {
  const fx = fixture('rmsnorm_d48_tiny');
  const { d, rows, eps } = fx.meta;
  const dy = rmsnormBackwardRef(fx.f32('y'), fx.f32('gamma'), fx.f32('dz'), rows, d, eps);
  expectClose('reference dy', dy, fx.f32('dy'), { atol: 1e-9, rtol: 1e-5 });
});

test.run();
