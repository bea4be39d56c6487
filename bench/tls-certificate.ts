// The certificate of a `bench --tls` or `soak --tls` run: made once (lib/tls/certificate.ts, as a
// server makes its own) and given to every server, so each does the same handshake with the same
// key, and the load generator verifies it (--ca) as a real client would. Its files live in a
// temporary directory removed when the run's process exits.
import { selfSignedCertificate, writeCertificateFiles } from '../lib/tls/certificate.js'

export function benchCertificate(): { certFile: string; keyFile: string; fingerprint: string } {
  const cert = selfSignedCertificate()
  return { ...writeCertificateFiles(cert), fingerprint: cert.fingerprint }
}
