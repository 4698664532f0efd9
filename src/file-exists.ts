/**
 * @module file-exists
 * Whether a path can be reached, as a promise that never rejects: for "build it if it is not there"
 * decisions, where a missing file is an answer, not an error.
 */
import { access } from 'node:fs/promises';

/** @example if (!(await fileExists(join(dir, 'manifest.json')))) await build(dir); */
export function fileExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
