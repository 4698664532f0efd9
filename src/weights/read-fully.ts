/**
 * @module weights/read-fully
 * Positional reads that fill the whole buffer. A single `read` may return fewer bytes than asked
 * (large requests, signals), and a file that shrinks under us must fail cleanly, not yield zeros.
 */
import type { FileHandle } from 'node:fs/promises';
import { errors } from '../errors.js';

/** Below the 2 GiB a single read(2) may transfer on Linux, so every call can complete in one go. */
const CHUNK = 1 << 30;

/**
 * Fills `buf` from `fh` starting at absolute `position`.
 *
 * @throws FluxServeError FLUX_ERR_SAFETENSORS when the file ends first
 *
 * @example
 * const head = new Uint8Array(8);
 * await readFully(fh, 'model.safetensors', head, 0);
 */
export async function readFully(
  fh: FileHandle,
  file: string,
  buf: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const want = Math.min(CHUNK, buf.length - done);
    const { bytesRead } = await fh.read(buf, done, want, position + done);
    if (bytesRead === 0) {
      throw errors.SAFETENSORS(file, `unexpected end of file at byte ${position + done} (file truncated?)`);
    }
    done += bytesRead;
  }
}
