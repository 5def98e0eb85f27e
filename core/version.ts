/** Anneal's version, reported by the CLI and the daemon. Kept in step with package.json. */
export const ANNEAL_VERSION = '0.1.0';
