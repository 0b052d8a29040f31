// NumPy's formats, as `np.save` and `np.savez` (or `savez_compressed`) write them: a folder of
// NAME.npy files, or one .npz (a zip of NAME.npy entries, stored or deflated, zip64 where
// large). An .npy is the magic "\x93NUMPY", a version, a header length (u16 in version 1,
// u32 in 2 and 3), a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (N, d)} and the array's bytes. Headers are read up front; an array's bytes only
// when asked for (stored entries straight from disk, deflated ones inflated then).
import { closeSync, fstatSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { InputError } from '../shared/errors.ts';
import { ITEM_BYTES, readAt, TensorFile, type TensorInfo } from './tensorFile.ts';

/** NumPy dtype descriptors (little-endian or byte-free) by safetensors' name. */
const DESCR: Record<string, string> = {
  '<f4': 'F32', '<f8': 'F64', '<f2': 'F16', '<i4': 'I32', '<i8': 'I64', '<i2': 'I16', '|i1': 'I8',
  '|u1': 'U8', '<u2': 'U16', '<u4': 'U32', '<u8': 'U64', '|b1': 'BOOL',
};
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Where an array's bytes are: a byte range of a file, stored or deflated (then inflated whole). */
interface Source {
  fd: number;
  begin: number;
  end: number;
  /** A deflated .npz entry: the header's length inside the inflated bytes. */
  deflated?: { size: number };
}

export class NumpyTensors extends TensorFile {
  private constructor(
    readonly path: string,
    readonly format: string,
    readonly tensors: Map<string, TensorInfo>,
    private sources: Map<string, Source>,
    private fds: number[],
  ) {
    super();
  }

  /** The deflated entry inflated last, kept while its chunks are read. */
  private inflated: { name: string; data: Uint8Array } | undefined;

  /** Every NAME.npy in a folder, as tensor NAME. */
  static folder(path: string): NumpyTensors {
    const files = readdirSync(path).filter((f) => f.endsWith('.npy')).sort();
    if (files.length === 0) throw new InputError(`${path}: a folder without .npy files (data is a safetensors file, an .npz, or a folder of NAME.npy)`);
    const tensors = new Map<string, TensorInfo>();
    const sources = new Map<string, Source>();
    const fds: number[] = [];
    try {
      for (const f of files) {
        const file = join(path, f);
        const fd = openSync(file, 'r');
        fds.push(fd);
        const size = fstatSync(fd).size;
        const name = f.slice(0, -4);
        const { info, dataStart } = parseNpy(file, name, readAt(fd, 0, Math.min(size, 1 << 16), file));
        const bytes = byteCount(info);
        if (dataStart + bytes !== size) throw new InputError(`${file}: holds ${size - dataStart} bytes of data, its ${info.dtype} shape [${info.shape}] needs ${bytes}`);
        tensors.set(name, info);
        sources.set(name, { fd, begin: dataStart, end: size });
      }
    } catch (e) {
      fds.forEach(closeSync);
      throw e;
    }
    return new NumpyTensors(path, 'npy folder', tensors, sources, fds);
  }

  /** The NAME.npy entries of an .npz archive, as tensors NAME. */
  static npz(path: string): NumpyTensors {
    const fd = openSync(path, 'r');
    try {
      const bad = (why: string) => new InputError(`${path}: not a valid .npz file (${why})`);
      const size = fstatSync(fd).size;
      // End of central directory: the last 22 bytes, before a comment of up to 64 KiB.
      const tail = readAt(fd, Math.max(0, size - 22 - 65535), Math.min(size, 22 + 65535), path);
      let eocd = -1;
      for (let i = tail.length - 22; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
      if (eocd < 0) throw bad('no zip directory');
      let entries = tail.readUInt16LE(eocd + 10);
      let dirSize = tail.readUInt32LE(eocd + 12);
      let dirOffset = tail.readUInt32LE(eocd + 16);
      if (dirOffset === 0xffffffff || entries === 0xffff) {
        // zip64: its locator sits just before the end record and points at the zip64 end record.
        const locatorAt = size - tail.length + eocd - 20;
        const locator = readAt(fd, locatorAt, 20, path);
        if (locator.readUInt32LE(0) !== 0x07064b50) throw bad('a zip64 archive without its locator');
        const end64 = readAt(fd, Number(locator.readBigUInt64LE(8)), 56, path);
        if (end64.readUInt32LE(0) !== 0x06064b50) throw bad('a broken zip64 directory');
        entries = Number(end64.readBigUInt64LE(32));
        dirSize = Number(end64.readBigUInt64LE(40));
        dirOffset = Number(end64.readBigUInt64LE(48));
      }
      if (dirOffset + dirSize > size) throw bad('its directory runs past the end of the file');
      const dir = readAt(fd, dirOffset, dirSize, path);
      const tensors = new Map<string, TensorInfo>();
      const sources = new Map<string, Source>();
      let at = 0;
      for (let k = 0; k < entries; k++) {
        if (dir.readUInt32LE(at) !== 0x02014b50) throw bad('a broken directory entry');
        const method = dir.readUInt16LE(at + 10);
        let compressed = dir.readUInt32LE(at + 20);
        let uncompressed = dir.readUInt32LE(at + 24);
        const nameLen = dir.readUInt16LE(at + 28);
        const extraLen = dir.readUInt16LE(at + 30);
        const commentLen = dir.readUInt16LE(at + 32);
        let local = dir.readUInt32LE(at + 42);
        const entryName = dir.toString('utf8', at + 46, at + 46 + nameLen);
        // zip64 extra field: the 64-bit values of whichever fields read 0xffffffff, in order.
        for (let e = at + 46 + nameLen; e < at + 46 + nameLen + extraLen; ) {
          const id = dir.readUInt16LE(e);
          const len = dir.readUInt16LE(e + 2);
          if (id === 0x0001) {
            let p = e + 4;
            if (uncompressed === 0xffffffff) (uncompressed = Number(dir.readBigUInt64LE(p))), (p += 8);
            if (compressed === 0xffffffff) (compressed = Number(dir.readBigUInt64LE(p))), (p += 8);
            if (local === 0xffffffff) local = Number(dir.readBigUInt64LE(p));
          }
          e += 4 + len;
        }
        at += 46 + nameLen + extraLen + commentLen;
        if (!entryName.endsWith('.npy')) continue;
        if (method !== 0 && method !== 8) throw bad(`entry '${entryName}' is compressed with method ${method} (stored or deflated expected)`);
        const head = readAt(fd, local, 30, path);
        if (head.readUInt32LE(0) !== 0x04034b50) throw bad(`entry '${entryName}' has no local header`);
        const dataStart = local + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
        if (dataStart + compressed > size) throw bad(`entry '${entryName}' runs past the end of the file`);
        const name = entryName.slice(0, -4);
        const where = `${path}:${entryName}`;
        if (method === 0) {
          const { info, dataStart: offset } = parseNpy(where, name, readAt(fd, dataStart, Math.min(compressed, 1 << 16), path));
          if (offset + byteCount(info) !== compressed) throw bad(`entry '${entryName}' holds ${compressed - offset} bytes of data, its shape [${info.shape}] needs ${byteCount(info)}`);
          tensors.set(name, info);
          sources.set(name, { fd, begin: dataStart + offset, end: dataStart + compressed });
        } else {
          const whole = inflate(readAt(fd, dataStart, compressed, path), where);
          const { info, dataStart: offset } = parseNpy(where, name, whole);
          if (offset + byteCount(info) !== uncompressed || whole.length !== uncompressed) throw bad(`entry '${entryName}' inflates to ${whole.length} bytes, its shape [${info.shape}] needs ${offset + byteCount(info)}`);
          tensors.set(name, info);
          sources.set(name, { fd, begin: dataStart, end: dataStart + compressed, deflated: { size: offset } });
        }
      }
      if (tensors.size === 0) throw bad('no .npy entries');
      return new NumpyTensors(path, 'npz', tensors, sources, [fd]);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  bytes(name: string, offset = 0, length?: number): Uint8Array {
    this.get(name); // the error names a missing tensor
    const s = this.sources.get(name)!;
    if (!s.deflated) return readAt(s.fd, s.begin + offset, length ?? s.end - s.begin - offset, `${this.path}: '${name}'`);
    // A deflated entry is inflated whole (once for the chunks read of it in a row), then cut.
    if (this.inflated?.name !== name) {
      const whole = inflate(readAt(s.fd, s.begin, s.end - s.begin, `${this.path}: '${name}'`), `${this.path}:${name}.npy`);
      this.inflated = { name, data: whole.subarray(s.deflated.size) };
    }
    return aligned(this.inflated.data.subarray(offset, length === undefined ? undefined : offset + length));
  }

  close(): void {
    this.inflated = undefined;
    this.fds.forEach(closeSync);
  }
}

/** An .npy header: the tensor it describes and where its data starts. */
function parseNpy(where: string, name: string, head: Buffer): { info: TensorInfo; dataStart: number } {
  const bad = (why: string) => new InputError(`${where}: not a valid .npy array (${why})`);
  if (head.length < 10 || !head.subarray(0, 6).equals(MAGIC)) throw bad('no \\x93NUMPY magic');
  const major = head[6]!;
  if (major < 1 || major > 3) throw bad(`format version ${major}`);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const dataStart = 8 + lenBytes + headerLen;
  if (dataStart > head.length) throw bad('its header is cut short');
  const header = head.toString(major === 3 ? 'utf8' : 'latin1', 8 + lenBytes, dataStart);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`header ${header.trim()}`);
  const dtype = DESCR[descr] ?? (descr === '=f4' || descr === '=i4' || descr === '=i8' || descr === '=f8' ? DESCR[`<${descr.slice(1)}`] : undefined);
  if (!dtype) throw bad(`dtype '${descr}' (little-endian float32/16/64 or int32/64 expected; a big-endian array needs .astype('<f4') and the like)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw bad(`shape (${shapeText})`);
  if (fortran === 'True' && shape.filter((n) => n > 1).length > 1) throw bad(`'${name}' is stored in Fortran order; save np.ascontiguousarray(a) instead`);
  return { info: { name, dtype, shape }, dataStart };
}

function byteCount(t: TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[t.dtype]!;
}

function inflate(raw: Buffer, where: string): Buffer {
  try {
    return inflateRawSync(raw);
  } catch (e) {
    throw new InputError(`${where}: cannot inflate (${(e as Error).message})`);
  }
}

/** The bytes where typed arrays of any element size can view them (copied if need be). */
function aligned(b: Uint8Array): Uint8Array {
  return b.byteOffset % 8 === 0 ? b : new Uint8Array(b);
}
