/**
 * Manifest formats: a format 1 dir (LoRA inputs float32 whatever the compute dtype) is read as
 * format 2 describes it; an unknown format is refused with what to do.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MANIFEST_FORMAT, parseManifestFile } from '../../src/runtime/manifest.js';
import { tempDir } from '../weights/fixtures.js';

const layer = { name: 'img_in', in: 64, out: 32, loraA: 'lora.img_in.a', loraB: 'lora.img_in.b' };

async function manifestFile(format: number): Promise<string> {
  const dir = await tempDir();
  const transformer = { file: 'transformer.onnx', dtype: 'float16', layers: [layer] };
  const clip = { file: 'clip.onnx', dtype: 'float16', layers: [] };
  const manifest = { format, builtAt: '', builder: '', source: '', components: { clip, transformer } };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

describe('parseManifestFile', () => {
  it('reads a format 1 fp16 build as taking float32 whole-layer LoRA inputs only', async () => {
    const m = await parseManifestFile(await manifestFile(1), 'manifest.json');
    expect(m.format).toBe(MANIFEST_FORMAT);
    expect(m.components.transformer?.dtype).toBe('float16');
    expect(m.components.transformer?.layers).toEqual([{ ...layer, loraDType: 'float32', parts: [] }]);
    expect(m.components.clip?.layers).toEqual([]);
  });

  it('refuses a format it does not know, saying to rebuild', async () => {
    const dir = await manifestFile(MANIFEST_FORMAT + 1);
    await expect(parseManifestFile(dir, 'manifest.json')).rejects.toThrow(
      new RegExp(`has format ${MANIFEST_FORMAT + 1}; .*rebuild the model`),
    );
  });
});
