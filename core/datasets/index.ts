// Dataset intelligence: format detection, per-record and whole-file checks with exact ranges,
// normalisation for training, and an incremental model for editors. See docs/diagnostics.md.

export { checkDataset } from './check.ts';
export { DatasetModel } from './model.ts';
export { normalizeRecord, toMessagesRecord, flattenContent, alpacaToMessages, sharegptToMessages, splitImplicit } from './normalize.ts';
export { detectFormat, detectStyle, kindOfFormat, kindOfStage, kindAccepts } from './detect.ts';
export { DATASET_CODES, severityOf, type DatasetCode } from './codes.ts';
export { findDatasetInfo, datasetOptionsFor } from './datasetInfo.ts';
export { decodeLines, type DecodedLines } from './bytes.ts';
export type {
  DatasetCheckOptions,
  DatasetReport,
  DatasetSummary,
  DatasetInfoEntry,
  RecordInfo,
  LengthStats,
  RecordFormat,
  RecordStyle,
  DatasetKind,
  Message,
  NormalizedRecord,
  Role,
  Turns,
} from './types.ts';
