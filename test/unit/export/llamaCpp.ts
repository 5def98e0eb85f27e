// What llama.cpp does with an exported GGUF, through node-llama-cpp 3.21.1's prebuilt CPU binaries:
// the chat template read back from the file's metadata and rendered by node-llama-cpp's Jinja chat
// wrapper, llama.cpp's tokenization of that text, and its greedy continuation.
import type { Message } from '../../../core/datasets/types.ts';

export interface LlamaCppConversation {
  /** Token ids of the prompt node-llama-cpp renders from the GGUF's own chat template. */
  templateIds: number[];
  /** llama.cpp's ids for a given text (special tokens parsed). */
  textIds: number[];
  /** Greedy tokens from `textIds`, up to maxNew, stopping at an end-of-generation token. */
  greedy: number[];
}

/**
 * Loads `gguf` with llama.cpp (with the GGUF adapter `lora` applied at scale 1, when given), renders and
 * continues every conversation; `texts` are Anneal's renders.
 */
export async function llamaCppRun(gguf: string, conversations: Message[][], texts: string[], maxNew: number, lora?: string): Promise<{ chatTemplate: string | undefined; results: LlamaCppConversation[] }> {
  const { getLlama, LlamaLogLevel, JinjaTemplateChatWrapper } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath: gguf });
    const chatTemplate = model.fileInfo.metadata.tokenizer?.chat_template as string | undefined;
    const wrapper = chatTemplate ? new JinjaTemplateChatWrapper({ template: chatTemplate, trimLeadingWhitespaceInResponses: false }) : undefined;
    const context = await model.createContext({ contextSize: 512, threads: 1, ...(lora ? { lora: { adapters: [{ filePath: lora }] } } : {}) });
    const results: LlamaCppConversation[] = [];
    for (let i = 0; i < conversations.length; i++) {
      const history = conversations[i]!.map((m) =>
        m.role === 'assistant' ? { type: 'model' as const, response: [m.content] } : { type: m.role as 'system' | 'user', text: m.content },
      );
      history.push({ type: 'model', response: [] });
      const templateIds = wrapper ? wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer) : [];
      const textIds = model.tokenize(texts[i]!, true);
      const sequence = context.getSequence();
      const greedy: number[] = [];
      for await (const token of sequence.evaluate(textIds, { temperature: 0 })) {
        if (model.isEogToken(token)) break;
        greedy.push(token);
        if (greedy.length >= maxNew) break;
      }
      sequence.dispose();
      results.push({ templateIds: templateIds.map(Number), textIds: textIds.map(Number), greedy: greedy.map(Number) });
    }
    await context.dispose();
    await model.dispose();
    return { chatTemplate, results };
  } finally {
    await llama.dispose();
  }
}
