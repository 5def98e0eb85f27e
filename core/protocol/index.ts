// The daemon protocol, the run data shapes and the worker IPC messages, in one import.
export * from './daemon.ts';
export * from './runs.ts';
export * from './runId.ts';
export * from './handshake.ts';
export * from './frames.ts';
export * from './worker.ts';
export * from './scorePairs.ts';
export * from './pipelines.ts';
