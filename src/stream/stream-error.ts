// RFC 6120 §4.9.3: the defined stream error conditions. A stream error is always fatal:
// the server sends it, then </stream:stream>, then closes the transport.
export type StreamErrorCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export interface StreamError {
  readonly condition: StreamErrorCondition;
  readonly text?: string;
}

export function streamError(condition: StreamErrorCondition, text?: string): StreamError {
  return text === undefined ? { condition } : { condition, text };
}
