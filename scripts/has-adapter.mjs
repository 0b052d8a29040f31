// Whether Dawn (npm `webgpu`, as lensgpu opens it) finds a WebGPU adapter and device here:
// exit 0 and the adapter's name when it does, 1 when it finds none, 2 when Dawn cannot be
// loaded (no node_modules yet). A GPU driver on Linux, Metal,
// D3D12, a Vulkan driver given by VK_DRIVER_FILES and Mesa's lavapipe all count; Mesa 22's
// lavapipe, which Dawn rejects, does not. Used by setup-vulkan.sh: Dawn, not a list of ICD
// folders, decides whether a driver is missing.
const dawn = await import('webgpu').catch(() => null);
if (!dawn) {
  console.log('Dawn (npm webgpu) cannot be loaded');
  process.exit(2);
}
Object.assign(globalThis, dawn.globals);
const instance = dawn.create([]);
let adapter = null;
try {
  adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
} catch {
  adapter = null;
}
const device = adapter && (await adapter.requestDevice().catch(() => null));
if (!device) {
  console.log('no WebGPU adapter');
  process.exit(1);
}
console.log(adapter.info.description || adapter.info.device || adapter.info.vendor || 'an adapter');
device.destroy();
process.exit(0);
