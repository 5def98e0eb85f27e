// The `initialize` version check, as a pure function so both the daemon and the tests use the same rule.

import { DaemonErrorCodes, PROTOCOL_VERSION, type ProtocolMismatchData } from './daemon.ts';

/** The error to answer `initialize` with, or undefined when the client speaks our protocol version. */
export function checkProtocolVersion(
  clientProtocolVersion: unknown,
  daemonVersion: string,
): { code: number; message: string; data: ProtocolMismatchData } | undefined {
  if (clientProtocolVersion === PROTOCOL_VERSION) return undefined;
  const shown = typeof clientProtocolVersion === 'number' ? String(clientProtocolVersion) : JSON.stringify(clientProtocolVersion) ?? 'none';
  return {
    code: DaemonErrorCodes.ProtocolMismatch,
    message:
      `Protocol version mismatch: this client speaks ${shown}, the daemon (Anneal ${daemonVersion}) speaks ${PROTOCOL_VERSION}. ` +
      'Use the same Anneal version for both: stop the old daemon (`kill` the pid in daemon.json) and run the command again.',
    data: { daemonProtocolVersion: PROTOCOL_VERSION, clientProtocolVersion, daemonVersion },
  };
}
