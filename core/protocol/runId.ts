// Run ids name folders under `<stateDir>/runs/`, so a request can only ever touch its own run's folder
// when the id is checked against this pattern before any path is built from it.

/** Lowercase letters, digits and dashes, 1 to 64 characters: no dots, slashes or separators. */
export const RUN_ID_PATTERN = /^[a-z0-9-]{1,64}$/;

/** True when `id` is a well-formed run id (safe to join under the runs folder). */
export function isValidRunId(id: unknown): id is string {
  return typeof id === 'string' && RUN_ID_PATTERN.test(id);
}

/** The sentence shown when a request names a malformed run id. */
export function invalidRunIdMessage(id: unknown): string {
  const shown = typeof id === 'string' ? JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id) : String(id);
  return `Invalid run id ${shown}: run ids are 1-64 lowercase letters, digits or dashes (see \`anneal runs\`).`;
}
