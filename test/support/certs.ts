// A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate, made
// with the openssl command line for the TLS and mutual-TLS tests.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './procs.js';

export interface Certs {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second client, CN agent-2. */
  client2Cert: string;
  client2Key: string;
  /** A server certificate that expired yesterday. */
  expiredCert: string;
  expiredKey: string;
}

export function makeCerts(): Certs {
  const dir = tempDir('certs-');
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kafka-obs test CA');
  const leaf = (name: string, cn: string, ext: string, days = '2') => {
    writeFileSync(f(`${name}.ext`), ext);
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', `${name}.ext`);
  };
  leaf('server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'agent-1', 'extendedKeyUsage=clientAuth\n');
  leaf('client2', 'agent-2', 'extendedKeyUsage=clientAuth\n');
  leaf('expired', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n', '-1');
  return {
    dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'),
    client2Cert: f('client2.pem'), client2Key: f('client2.key'), expiredCert: f('expired.pem'), expiredKey: f('expired.key'),
  };
}
