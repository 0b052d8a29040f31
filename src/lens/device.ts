// The device as the layers above the lens hold it: opened by the command line, handed down
// to training and evaluation, its errors told apart, destroyed last; and the Owner that frees
// the lenses, data sets and evaluators a run makes with one destroy(). Everything else of the
// GPU stays below the lens.
export { Owner } from '../gpu/buffers.ts';
export { Gpu, GpuError, type AdapterSummary } from '../gpu/device.ts';
