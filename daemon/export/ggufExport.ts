// The GGUF export's folder: `<name>-<quant>.gguf` (the merged model with its tokenizer and chat
// template in the metadata) and an Ollama Modelfile beside it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportModel } from './exportModel.ts';
import { ggmlTypeName } from '../engine/dequantize.ts';
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
  const { tensors, fellBack } = ggufTensors(model.config, model.weights, quant);
  if (fellBack.length > 0) notes.push(fallbackNote(fellBack, quant));
  writeGguf(join(dir, fileName), metadata, tensors, onTensor);
  writeFileSync(join(dir, 'Modelfile'), modelfile.text);
  notes.push(...modelfile.notes);
  return { files: [fileName, 'Modelfile'], notes };
}

/** One line on the matrices stored in another type than asked, grouped by the type they got. */
function fallbackNote(fellBack: { name: string; type: number }[], quant: QuantType): string {
  const byType = new Map<string, string[]>();
  for (const f of fellBack) byType.set(ggmlTypeName(f.type), [...(byType.get(ggmlTypeName(f.type)) ?? []), f.name]);
  const parts = [...byType].map(([type, names]) => `${names.length} as ${type} (${names.slice(0, 2).join(', ')}${names.length > 2 ? ', …' : ''})`);
  return `${fellBack.length} matri${fellBack.length === 1 ? 'x has rows' : 'ces have rows'} that are not whole ${quant.name} blocks, stored as llama-quantize stores them: ${parts.join('; ')}`;
}
