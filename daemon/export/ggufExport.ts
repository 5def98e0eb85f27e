// The GGUF export's folder: `<name>-<quant>.gguf` (the merged model with its tokenizer and chat
// template in the metadata) and an Ollama Modelfile beside it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportModel } from './exportModel.ts';
import { ggufModelMetadata, ggufTensors } from './ggufModel.ts';
import type { QuantType } from './ggufQuant.ts';
import { ggufTokenizerMetadata } from './ggufVocab.ts';
import { writeGguf } from './ggufWriter.ts';
import { ollamaModelfile } from './modelfile.ts';

/** Writes the GGUF file `fileName` and a Modelfile into `dir`; returns the files and notes for the user. */
export function writeGgufExport(dir: string, fileName: string, model: ExportModel, quant: QuantType, onTensor?: (done: number, total: number) => void): { files: string[]; notes: string[] } {
  const notes: string[] = [];
  const metadata = ggufModelMetadata(model.config, quant, fileName.replace(/\.gguf$/, ''));
  for (const [k, v] of ggufTokenizerMetadata(model.tokenizerFiles, model.tokenizer, model.config.vocab_size, model.chatTemplate)) metadata.set(k, v);
  // The Modelfile is derived first: a template it cannot express is a note, not a failed export.
  const addsBos = metadata.get('tokenizer.ggml.add_bos_token');
  const modelfile = ollamaModelfile(`./${fileName}`, model.tokenizer, addsBos !== undefined && 'value' in addsBos && addsBos.value === true);
  const { tensors, keptF16 } = ggufTensors(model.config, model.weights, quant);
  if (keptF16.length > 0) notes.push(`${keptF16.length} matri${keptF16.length === 1 ? 'x' : 'ces'} whose rows are not whole ${quant.name} blocks stay F16 (${keptF16.slice(0, 3).join(', ')}${keptF16.length > 3 ? ', …' : ''})`);
  writeGguf(join(dir, fileName), metadata, tensors, onTensor);
  writeFileSync(join(dir, 'Modelfile'), modelfile.text);
  notes.push(...modelfile.notes);
  return { files: [fileName, 'Modelfile'], notes };
}
