import { describe, expect, it } from 'vitest';
import { chooseLoraFile, type RepoFile } from '../../src/hub/lora-file-choice.js';
import { dispositionName } from '../../src/hub/safe-download.js';

const files = (...paths: string[]): RepoFile[] => paths.map((path) => ({ path }));
const chosen = (list: RepoFile[]) => {
  const choice = chooseLoraFile(list);
  return 'file' in choice ? choice.file.path : choice;
};

describe('chooseLoraFile (lora.md §9.3)', () => {
  it('takes the only LoRA among the other files (Octree/flux-schnell-lora)', () => {
    expect(
      chosen(
        files('.gitattributes', 'README.md', 'flux-schnell-lora.safetensors', 'samples/1.jpg', 'lora.bin'),
      ),
    ).toBe('flux-schnell-lora.safetensors');
  });

  it('prefers pytorch_lora_weights.safetensors, the shallowest first', () => {
    expect(
      chosen(
        files('a.safetensors', 'sub/pytorch_lora_weights.safetensors', 'pytorch_lora_weights.safetensors'),
      ),
    ).toBe('pytorch_lora_weights.safetensors');
  });

  it('drops samples, optimizer/scheduler/checkpoint/state files, base models and huge files', () => {
    expect(
      chosen([
        ...files(
          'samples/x.safetensors',
          'optimizer.safetensors',
          'scheduler.safetensors',
          'checkpoint-500.safetensors',
          'training_state.safetensors',
          'flux1-dev.safetensors',
          't5xxl_fp16.safetensors',
          'clip_l.safetensors',
          'ae.safetensors',
        ),
        { path: 'merged.safetensors', size: 23_000_000_000 },
        { path: 'style.safetensors', size: 171_969_416 },
      ]),
    ).toBe('style.safetensors');
  });

  it('drops intermediate training saves when a final file exists', () => {
    expect(chosen(files('me_000000500.safetensors', 'me_000001000.safetensors', 'me.safetensors'))).toBe(
      'me.safetensors',
    );
    expect(chosen(files('out-000004.safetensors', 'out-step00000500.safetensors', 'out.safetensors'))).toBe(
      'out.safetensors',
    );
  });

  it('treats X and X_comfy_converted as one file', () => {
    expect(chosen(files('realism_lora.safetensors', 'realism_lora_comfy_converted.safetensors'))).toBe(
      'realism_lora.safetensors',
    );
  });

  it('lists the candidates when several remain, and says when none does', () => {
    expect(
      chosen(
        files('realism_lora.safetensors', 'anime_lora.safetensors', 'anime_lora_comfy_converted.safetensors'),
      ),
    ).toEqual({
      candidates: files('anime_lora.safetensors', 'realism_lora.safetensors'),
      why: 'ambiguous',
    });
    expect(chosen(files('a_000000500.safetensors', 'a_000001000.safetensors'))).toEqual({
      candidates: files('a_000000500.safetensors', 'a_000001000.safetensors'),
      why: 'ambiguous',
    });
    expect(chosen(files('lora.bin', 'README.md'))).toEqual({ candidates: [], why: 'none' });
  });
});

describe('dispositionName', () => {
  it.each([
    ['attachment; filename="ink style.safetensors"', 'ink style.safetensors'],
    ['attachment; filename=plain.safetensors; size=3', 'plain.safetensors'],
    [`attachment; filename="fallback.safetensors"; filename*=UTF-8''%E6%B0%B4.safetensors`, '水.safetensors'],
    ['attachment; filename="../../etc/evil.safetensors"', 'evil.safetensors'],
    ['attachment; filename=".."', undefined],
    ['inline', undefined],
    [undefined, undefined],
  ])('reads %j', (header, name) => {
    expect(dispositionName(header)).toBe(name);
  });
});
