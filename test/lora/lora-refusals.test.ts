/**
 * What parseLora refuses, and the message it gives: never a silent approximation or a wrong apply.
 */
import { beforeAll, describe, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { parseLora } from '../../src/lora/index.js';
import type { TensorToWrite } from '../../src/weights/safetensors-writer.js';
import { expectFluxThrow } from '../weights/fixtures.js';
import { fixtureBytes } from './lora-fixtures.js';
import { FORMATS, fullDiff, lokr } from './lora-formats.js';

let c: FluxConfig;
beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
});

const t = (name: string, shape: number[], fill = 0.1): TensorToWrite => ({
  name,
  dtype: 'F32',
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});

async function bytesOf(tensors: TensorToWrite[]): Promise<Uint8Array> {
  return fixtureBytes({ tensors, delta: new Map() });
}

const LORA = 'FLUX_ERR_LORA';

describe('parseLora refuses', () => {
  it('a BFL control LoRA (Canny/Depth)', async () => {
    const bytes = await bytesOf([
      t('img_in.lora_A.weight', [2, 128]),
      t('img_in.lora_B.weight', [32, 2]),
      t('img_in.lora_B.bias', [32]),
      t('double_blocks.0.img_attn.norm.query_norm.scale', [16]),
    ]);
    expectFluxThrow(
      () => parseLora(bytes, c, { name: 'canny.safetensors' }),
      LORA,
      /^LoRA canny\.safetensors: .*control LoRA/,
    );
  });

  it('an img_in LoRA of another input width (control or fill)', async () => {
    const bytes = await bytesOf([t('img_in.lora_A.weight', [2, 384]), t('img_in.lora_B.weight', [32, 2])]);
    expectFluxThrow(
      () => parseLora(bytes, c),
      LORA,
      /img_in\.lora_A\.weight takes 384 input channels where img_in has 64/,
    );
  });

  it('DoRA, naming the magnitude key', async () => {
    const f = FORMATS.kohya(c);
    const bytes = await bytesOf([...f.tensors, t('lora_unet_txt_in.dora_scale', [1, c.jointAttentionDim])]);
    expectFluxThrow(
      () => parseLora(bytes, c),
      LORA,
      /lora_unet_txt_in\.dora_scale is a DoRA magnitude.*cannot express exactly/,
    );
  });

  it('a file where no key matches a FLUX layer (an SDXL LoRA)', async () => {
    const bytes = await bytesOf([
      t('lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight', [4, 320]),
      t('lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', [4, 768]),
    ]);
    expectFluxThrow(
      () => parseLora(bytes, c, { name: 'sdxl' }),
      LORA,
      /none of its 2 keys matched a FLUX\.1 transformer layer \(unknown-key, text-encoder\).*lora_unet_down_blocks/,
    );
  });

  it('a shape mismatch, naming the key and the expected shape', async () => {
    const bytes = await bytesOf([
      t('transformer.transformer_blocks.0.attn.to_q.lora_A.weight', [4, 32]),
      t('transformer.transformer_blocks.0.attn.to_q.lora_B.weight', [48, 4]),
    ]);
    expectFluxThrow(
      () => parseLora(bytes, c),
      LORA,
      /transformer_blocks\.0\.attn\.to_q\.lora_B\.weight has shape \[48, 4\], expected \[32, 4\].*double_blocks\.0\.img_attn\.qkv rows 0\.\.32/,
    );
  });

  it.each([NaN, Infinity])('%s in a factor', async (bad) => {
    const bytes = await bytesOf([
      t('lora_unet_img_in.lora_down.weight', [2, 64]),
      t('lora_unet_img_in.lora_up.weight', [32, 2], bad),
    ]);
    expectFluxThrow(
      () => parseLora(bytes, c),
      LORA,
      /lora_unet_img_in\.lora_up\.weight holds a non-finite value/,
    );
  });

  it('an exact rank above the limit, naming the layer and the rank', async () => {
    const bytes = await fixtureBytes(fullDiff(c, 3));
    expectFluxThrow(
      () => parseLora(bytes, c, { maxRank: 16 }),
      LORA,
      /full module diffusion_model\.img_in on img_in needs rank 32 to be applied exactly, above the limit of 16/,
    );
    const lokrBytes = await fixtureBytes(lokr(c, 4));
    expectFluxThrow(
      () => parseLora(lokrBytes, c, { maxRank: 3 }),
      LORA,
      /lokr module lycoris_x_embedder on img_in needs rank 4/,
    );
  });

  it('a non-scalar alpha, an integer factor, a Tucker core, a corrupt file', async () => {
    const pair = [
      t('lora_unet_txt_in.lora_down.weight', [2, 32]),
      t('lora_unet_txt_in.lora_up.weight', [32, 2]),
    ];
    expectFluxThrow(
      () => parseLora(new Uint8Array(4), c),
      'FLUX_ERR_SAFETENSORS',
      /shorter than the 8-byte header/,
    );
    const alpha = await bytesOf([...pair, t('lora_unet_txt_in.alpha', [2])]);
    expectFluxThrow(() => parseLora(alpha, c), LORA, /lora_unet_txt_in\.alpha must be a scalar/);
    const int = await bytesOf([{ ...(pair[0] as TensorToWrite) }, pair[1] as TensorToWrite]);
    const view = new DataView(int.buffer, int.byteOffset);
    const header = new TextDecoder().decode(int.subarray(8, 8 + Number(view.getBigUint64(0, true))));
    const patched = new TextEncoder().encode(header.replace('"F32"', '"I32"'));
    const intBytes = new Uint8Array(int);
    intBytes.set(patched, 8);
    expectFluxThrow(
      () => parseLora(intBytes, c),
      LORA,
      /has dtype I32; LoRA factors must be F32, F16 or BF16/,
    );
    const tucker = await bytesOf([
      t('lora_unet_txt_in.hada_w1_a', [32, 2]),
      t('lora_unet_txt_in.hada_w1_b', [2, 32]),
      t('lora_unet_txt_in.hada_t1', [2, 2, 3, 3]),
    ]);
    expectFluxThrow(() => parseLora(tucker, c), LORA, /hada_t1 is a convolution Tucker core/);
  });
});
