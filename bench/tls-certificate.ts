// The certificate of a `bench --tls` run: made once (lib/tls/certificate.ts, as a server makes
// its own) and given to every server, so each does the same handshake with the same key, and the
// load generator verifies it (--ca) as a real client would. Its files live in a temporary
// directory removed when the run's process exits.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { selfSignedCertificate } from '../lib/tls/certificate.js'

export function benchCertificate(): { certFile: string; keyFile: string; fingerprint: string } {
  const cert = selfSignedCertificate()
  const dir = mkdtempSync(path.join(tmpdir(), 'selectloop-bench-tls-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const certFile = path.join(dir, 'cert.pem')
  const keyFile = path.join(dir, 'key.pem')
  writeFileSync(certFile, cert.cert)
  writeFileSync(keyFile, cert.key, { mode: 0o600 })
  return { certFile, keyFile, fingerprint: cert.fingerprint }
}
