// core/tokenize: tokenizers, chat templates and loss masks, shared by the hover, the checks and the trainer.

export type { ChatTokenizer, EncodedRecord, EncodeRecordOptions, LossOn } from './types.ts';
export { loadChatTokenizer, type LoadOptions } from './chatTokenizer.ts';
export { loadTokenizerFromFolder, forgetTokenizer } from './folder.ts';
export { tinyTokenizer, tinyTokenizerFiles, TINY_SPECIAL_TOKENS } from './tiny.ts';
