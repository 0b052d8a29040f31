// safetensors files, as PyTorch users write them with safetensors.torch: an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__},
// then the tensors' bytes. The header is validated in full before any tensor is read, and a
// tensor is read from disk only when asked for (a model folder holds gigabytes we do not need).
// The files this program writes carry a CRC-32 of their header and data in the metadata
// (`crc32`; PyTorch and safetensors ignore it), so damage is caught before a file is trusted.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { writeAtomic } from '../shared/files.ts';
import { InputError } from '../shared/errors.ts';
import { ITEM_BYTES, readAt, TensorFile, type TensorInfo } from './tensorFile.ts';

const MAX_HEADER = 100 * 1024 * 1024;
/** The metadata key of a file's checksum: CRC-32 of its header without this key, then its data. */
export const CHECKSUM_KEY = 'crc32';
/** Bytes of data hashed at a time while verifying (the file is streamed, never held whole). */
const VERIFY_CHUNK = 64 * 1024 * 1024;

/** A tensor's entry: its absolute byte range in the file. */
export interface SafetensorsEntry extends TensorInfo {
  begin: number;
  end: number;
}

export class SafetensorsFile extends TensorFile {
  readonly format = 'safetensors';
  private constructor(
    readonly path: string,
    private fd: number,
    readonly tensors: Map<string, SafetensorsEntry>,
    readonly metadata: Record<string, string>,
    /** The parsed header, for the checksum. */
    private header: Record<string, unknown>,
    private dataStart: number,
    private size: number,
  ) {
    super();
  }

  /**
   * The file checked against its checksum, streamed: `absent` where it carries none (a file
   * another tool wrote), `damaged` where its header or data changed since it was written.
   */
  verify(): 'ok' | 'absent' | 'damaged' {
    const want = this.metadata[CHECKSUM_KEY];
    if (want === undefined) return 'absent';
    let crc = headerCrc(this.header);
    for (let at = this.dataStart; at < this.size; at += VERIFY_CHUNK) {
      crc = crc32(readAt(this.fd, at, Math.min(VERIFY_CHUNK, this.size - at), `${this.path}: data`), crc);
    }
    return crc.toString(16).padStart(8, '0') === want ? 'ok' : 'damaged';
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new InputError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new InputError(`${path}: cannot read (${stat.isDirectory() ? 'a folder' : 'not a regular file'}, not a safetensors file)`);
      const size = stat.size;
      const bad = (why: string) => new InputError(`${path}: not a valid safetensors file (${why})`);
      if (size < 8) throw bad('shorter than its 8-byte header length');
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER || 8 + headerLen > size) throw bad(`header length ${headerLen} does not fit a ${size}-byte file`);
      const headerBuf = Buffer.alloc(headerLen);
      readSync(fd, headerBuf, 0, headerLen, 8);
      let header: unknown;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch {
        throw bad('its header is not JSON');
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('its header is not a JSON object');
      const dataStart = 8 + headerLen;
      const tensors = new Map<string, SafetensorsEntry>();
      let metadata: Record<string, string> = {};
      for (const [name, entry] of Object.entries(header as Record<string, any>)) {
        if (name === '__metadata__') {
          metadata = entry ?? {};
          continue;
        }
        const { dtype, shape, data_offsets: off } = entry ?? {};
        if (!(dtype in ITEM_BYTES)) throw bad(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
        if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) throw bad(`tensor '${name}' has a bad shape`);
        if (!Array.isArray(off) || off.length !== 2 || !off.every((n) => Number.isInteger(n) && n >= 0) || off[1] < off[0]) {
          throw bad(`tensor '${name}' has bad data_offsets`);
        }
        const bytes = shape.reduce((a: number, b: number) => a * b, 1) * ITEM_BYTES[dtype]!;
        if (off[1] - off[0] !== bytes) throw bad(`tensor '${name}' holds ${off[1] - off[0]} bytes, its ${dtype} shape [${shape}] needs ${bytes}`);
        if (dataStart + off[1] > size) throw bad(`tensor '${name}' runs past the end of the file`);
        tensors.set(name, { name, dtype, shape, begin: dataStart + off[0], end: dataStart + off[1] });
      }
      const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin);
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i]!.begin < sorted[i - 1]!.end) throw bad(`tensors '${sorted[i - 1]!.name}' and '${sorted[i]!.name}' overlap`);
      }
      return new SafetensorsFile(path, fd, tensors, metadata, header as Record<string, unknown>, dataStart, size);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** The raw bytes of a tensor, or `length` of them from `offset`. */
  bytes(name: string, offset = 0, length?: number): Uint8Array {
    this.get(name); // the error names a missing tensor
    const t = this.tensors.get(name)!;
    return readAt(this.fd, t.begin + offset, length ?? t.end - t.begin - offset, `${this.path}: tensor '${name}'`);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface TensorOut {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8';
  shape: number[];
  data: ArrayBufferView;
}

/**
 * Writes a safetensors file atomically: to a temporary file beside it, then renamed, so a
 * failure never leaves a half-written file where a good one was.
 */
export function writeSafetensors(path: string, tensors: TensorOut[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel * ITEM_BYTES[t.dtype]! !== t.data.byteLength) {
      throw new Error(`writeSafetensors: '${t.name}' has ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}]`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let crc = crc32(JSON.stringify(header));
  for (const t of tensors) crc = crc32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), crc);
  const json = Buffer.from(JSON.stringify(withChecksum(header, crc.toString(16).padStart(8, '0'))), 'utf8');
  const headerBytes = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]); // data 8-byte aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeAtomic(path, (fd) => {
    writeSync(fd, len);
    writeSync(fd, headerBytes);
    for (const t of tensors) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(1 << 30, bytes.length - at));
    }
  });
}

/** The header with its checksum in the metadata (the metadata first, as a header opens). */
function withChecksum(header: Record<string, unknown>, crc: string): Record<string, unknown> {
  const { __metadata__: metadata, ...rest } = header as { __metadata__?: Record<string, string> };
  return { __metadata__: { ...metadata, [CHECKSUM_KEY]: crc }, ...rest };
}

/** CRC-32 of a parsed header as its writer hashed it: without the checksum (nor empty metadata). */
function headerCrc(header: Record<string, unknown>): number {
  const { __metadata__: metadata, ...rest } = header as { __metadata__?: Record<string, string> };
  const { [CHECKSUM_KEY]: _crc, ...others } = metadata ?? {};
  return crc32(JSON.stringify(Object.keys(others).length ? { __metadata__: others, ...rest } : rest));
}
