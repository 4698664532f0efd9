/**
 * @module text
 * Prompt tokenization for FLUX's two text encoders: CLIP-L (77 ids) and T5 v1.1 (256 or 512 ids).
 */
export { CLIP_MAX_LENGTH, type ClipTokenizer, loadClipTokenizer } from './clip-tokenizer.js';
export {
  framePrompt,
  type PromptFrame,
  type PromptTokenizer,
  type TokenizedPrompt,
} from './prompt-tokenizer.js';
export { loadT5Tokenizer, type T5Tokenizer } from './t5-tokenizer.js';
