// One way to give Node's event loop a turn between chunks of long work (the panels' indexing).

/** Resolves on the next turn of the event loop, after pending I/O and messages. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
