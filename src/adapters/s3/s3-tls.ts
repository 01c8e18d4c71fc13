// TLS to the S3 endpoint: TLS 1.2 at least, and, with a CA bundle, trust in that bundle alone.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { S3ConfigError, type ResolvedS3Config } from './s3-config.js';

export const S3_TLS_MIN_VERSION = 'TLSv1.2';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?\r?\n-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle, each checked to parse. Anything else in the file (comments,
 * Mozilla-style labels) is ignored, as OpenSSL does; a file without one certificate, or with one
 * that does not parse, is refused with its path in the message.
 */
export function readCaBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new S3ConfigError(`cannot read the S3 CA bundle ${path}: ${(error as Error).message}`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new S3ConfigError(`the S3 CA bundle ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  certificates.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new S3ConfigError(`the S3 CA bundle ${path}: certificate ${i + 1} of ${certificates.length} does not parse: ${(error as Error).message}`);
    }
  });
  return certificates;
}

/**
 * The agent for https endpoints. With `ca` set, Node trusts exactly those certificates: neither its
 * bundled Mozilla roots nor NODE_EXTRA_CA_CERTS are consulted. Reads the bundle now (once): a
 * rotated bundle takes effect at the next start, as every certificate in T4.
 */
export function s3HttpsAgent(config: Pick<ResolvedS3Config, 'caBundle' | 'maxSockets'>): HttpsAgent {
  const ca = config.caBundle === undefined ? undefined : readCaBundle(config.caBundle);
  return new HttpsAgent({ keepAlive: true, maxSockets: config.maxSockets, minVersion: S3_TLS_MIN_VERSION, ...(ca === undefined ? {} : { ca }) });
}
