// The certificate for every TLS listener: configured PEM files, or a self-signed one for the
// domain generated once and kept in DATA_DIR so clients can pin it across restarts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../log.ts';

export interface TlsCredentials {
  readonly cert: string;
  readonly key: string;
  readonly context: tls.SecureContext;
  readonly selfSigned: boolean;
}

export async function loadTlsCredentials(opts: {
  certPath: string | undefined;
  keyPath: string | undefined;
  dataDir: string;
  domain: string;
  log: Logger;
}): Promise<TlsCredentials> {
  let cert: string;
  let key: string;
  let selfSigned = false;
  if (opts.certPath && opts.keyPath) {
    cert = readFileSync(opts.certPath, 'utf8');
    key = readFileSync(opts.keyPath, 'utf8');
  } else {
    const dir = path.join(opts.dataDir, 'tls');
    const certFile = path.join(dir, `${opts.domain}.crt`);
    const keyFile = path.join(dir, `${opts.domain}.key`);
    selfSigned = true;
    if (existsSync(certFile) && existsSync(keyFile)) {
      cert = readFileSync(certFile, 'utf8');
      key = readFileSync(keyFile, 'utf8');
    } else {
      const { generate } = await import('selfsigned');
      const pems = await generate([{ name: 'commonName', value: opts.domain }], {
        keySize: 2048,
        algorithm: 'sha256',
        extensions: [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
          { name: 'extKeyUsage', serverAuth: true },
          {
            name: 'subjectAltName',
            altNames: [
              { type: 2, value: opts.domain },
              { type: 2, value: `*.${opts.domain}` },
            ],
          },
        ],
      } as Parameters<typeof generate>[1]);
      cert = pems.cert;
      key = pems.private;
      mkdirSync(dir, { recursive: true });
      writeFileSync(keyFile, key, { mode: 0o600 });
      writeFileSync(certFile, cert);
      opts.log.warn(`generated a self-signed TLS certificate for ${opts.domain} in ${certFile}; set TLS_CERT/TLS_KEY for a real one`);
    }
  }
  const context = tls.createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  return { cert, key, context, selfSigned };
}
