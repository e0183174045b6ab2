// The server certificate's expiry: said at start, said again as it nears, and exported as a
// metric, so an expired certificate is never the first thing anyone hears from the agents.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';

export interface CertificateInfo {
  subject: string;
  notAfter: Date;
}

/** The first certificate in a PEM file. */
export function readCertificate(file: string): CertificateInfo {
  const cert = new X509Certificate(readFileSync(file));
  return { subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo) };
}

/** Logs the certificate's state now (error if expired, warn if within `warnMs`); returns what it said. */
export function checkCertificate(file: string, info: CertificateInfo, nowMs: number, warnMs: number, logger: Logger): 'expired' | 'expiring' | 'valid' {
  const left = info.notAfter.getTime() - nowMs;
  const fields = { certificate: file, subject: info.subject, notAfter: info.notAfter.toISOString(), daysLeft: Math.floor(left / 86_400_000) };
  if (left <= 0) {
    logger.error(fields, 'the server certificate has EXPIRED: agents and clients will refuse the TLS handshake until it is replaced');
    return 'expired';
  }
  if (left <= warnMs) {
    logger.warn(fields, `the server certificate expires in ${Math.ceil(left / 3_600_000)} h: replace it before then`);
    return 'expiring';
  }
  logger.info(fields, 'server certificate valid');
  return 'valid';
}

/** Checks at start and every `everyMs` after (re-reading the file: it may have been replaced). */
export function watchCertificate(file: string, warnMs: number, logger: Logger, onInfo: (info: CertificateInfo) => void, everyMs = 3_600_000): () => void {
  let last: string | undefined;
  const check = (): void => {
    try {
      const info = readCertificate(file);
      onInfo(info);
      const state = checkCertificate(file, info, Date.now(), warnMs, logger.child({}, { level: last === 'valid' ? 'warn' : logger.level }));
      last = state;
    } catch (e) {
      logger.warn({ certificate: file, err: (e as Error).message }, 'cannot read the server certificate to check its expiry');
    }
  };
  check();
  const timer = setInterval(check, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
