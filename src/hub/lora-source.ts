/**
 * @module hub/lora-source
 * What a request's `loras[i].path` names (api.md): a URL, a Hugging Face repo (or a file in one), or
 * a file inside the configured LoRA folder. The forms are told apart in this order, so that every
 * string has exactly one reading:
 *
 * 1. `http://…` or `https://…` (any case) → a URL.
 * 2. A name ending in `.safetensors` that exists inside the LoRA folder → that file. A name that
 *    would leave the folder (absolute, `..`, a backslash, a symlink pointing outside) is refused here,
 *    whatever else it looks like.
 * 3. `owner/repo` or `owner/repo@revision` (two segments, not ending in `.safetensors`), or
 *    `owner/repo[@revision]/path/to/file.safetensors` (three or more segments) → the Hugging Face hub.
 * 4. Anything else → a file in the LoRA folder, which then must exist (`my-style.safetensors`,
 *    `sub/style.safetensors`); a clear error says why it does not resolve.
 *
 * So a local `owner/repo/x.safetensors` shadows the hub file of that name (the folder is the
 * operator's), and a two-segment `dir/x.safetensors` is always a folder file.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { fetchError } from './fetch-errors.js';

export type LoraSource =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'local'; readonly name: string }
  | {
      readonly kind: 'hub';
      readonly repo: string;
      /** Branch, tag or commit; undefined means `main`. */
      readonly revision: string | undefined;
      /** A file inside the repo; undefined means "choose" (hub/lora-file-choice). */
      readonly file: string | undefined;
    };

const SAFETENSORS = /\.safetensors$/i;
/** Hub owner and repo names: letters, digits, `-`, `_`, `.`, not starting with a separator. */
const HUB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The hub reading of `path` (form 3), if it has that shape. */
function hubShape(path: string): LoraSource | undefined {
  const parts = path.split('/');
  if (parts.length < 2) return undefined;
  const [owner = '', repoAt = ''] = parts;
  const [repo = '', revision, extra] = repoAt.split('@');
  if (extra !== undefined || !HUB_NAME.test(owner) || !HUB_NAME.test(repo)) return undefined;
  if (revision !== undefined && !REVISION.test(revision)) return undefined;
  const rest = parts.slice(2);
  if (rest.length === 0) {
    return SAFETENSORS.test(repo)
      ? undefined
      : { kind: 'hub', repo: `${owner}/${repo}`, revision, file: undefined };
  }
  if (!SAFETENSORS.test(path) || rest.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return { kind: 'hub', repo: `${owner}/${repo}`, revision, file: rest.join('/') };
}

/** Why `name` may not name a file in the LoRA folder, or undefined when it may. */
function escapes(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name))
    return 'is an absolute path; name a file inside the LoRA folder';
  if (name.includes('\\')) return 'contains a backslash; use / between folders';
  if (name.split('/').includes('..')) return 'leaves the LoRA folder (..)';
  return undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads `path` as one of the forms above (the LoRA folder is consulted for form 2).
 *
 * @throws FluxServeError FLUX_ERR_USAGE for a name that would leave the LoRA folder
 *
 * @example
 * await parseLoraSource('loras[0].path', 'XLabs-AI/flux-RealismLora', '/srv/loras');
 * // { kind: 'hub', repo: 'XLabs-AI/flux-RealismLora', revision: undefined, file: undefined }
 */
export async function parseLoraSource(
  field: string,
  path: string,
  loraDir: string | undefined,
): Promise<LoraSource> {
  if (/^https?:\/\//i.test(path)) return { kind: 'url', url: path };
  const leaves = escapes(path);
  if (leaves !== undefined) throw fetchError(field, `${JSON.stringify(path)} ${leaves}`);
  if (SAFETENSORS.test(path) && loraDir !== undefined && (await isFile(join(loraDir, path)))) {
    return { kind: 'local', name: path };
  }
  return hubShape(path) ?? { kind: 'local', name: path };
}

/**
 * The absolute, symlink-free path of `name` inside `loraDir`, after checking that it stays inside,
 * exists, is a regular file and is a `.safetensors` file.
 *
 * @throws FluxServeError FLUX_ERR_USAGE saying which of these fails
 *
 * @example
 * await localLoraFile('loras[0].path', 'styles/ink.safetensors', '/srv/loras'); // '/srv/loras/styles/ink.safetensors'
 */
export async function localLoraFile(
  field: string,
  name: string,
  loraDir: string | undefined,
): Promise<string> {
  const fail = (why: string, cause?: unknown) => fetchError(field, `${JSON.stringify(name)} ${why}`, cause);
  const leaves = escapes(name);
  if (leaves !== undefined) throw fail(leaves);
  if (loraDir === undefined) {
    throw fail(
      'is not a URL or a Hugging Face owner/repo, and no LoRA folder is configured to look it up in',
    );
  }
  if (!SAFETENSORS.test(name)) {
    throw fail(
      'is not a URL, a Hugging Face owner/repo or owner/repo/file.safetensors, or a .safetensors file name',
    );
  }
  let root: string;
  let file: string;
  try {
    root = await realpath(loraDir);
  } catch (cause) {
    throw fetchError(field, `the LoRA folder ${loraDir} cannot be read`, cause);
  }
  try {
    file = await realpath(join(root, name));
  } catch (cause) {
    throw fail('is not in the LoRA folder', cause);
  }
  const inside = relative(root, file);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw fail('is a link that leads out of the LoRA folder');
  }
  if (!(await isFile(file))) throw fail('is not a file in the LoRA folder');
  return file;
}
