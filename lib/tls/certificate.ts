// A server's certificate: loaded from --cert/--key files, or self-signed for localhost at start.
//
// The self-signed one is made by the `openssl` command (Node can read X.509 certificates but not
// make them): an ECDSA P-256 key (fast handshakes, the kind real servers use) and a certificate,
// both written to its stdout, so the key never touches the disk. openssl is on every Debian-based
// machine and CI image here, so this costs no npm dependency (the `selfsigned` package pulls in
// @peculiar/x509 and pkijs, and their own dependencies) and takes a few milliseconds.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'

export interface ServerCertificate {
  /** PEM: the certificate (and its chain, when loaded from a file). */
  cert: string
  /** PEM: the private key. */
  key: string
  /** SHA-256 of the (first) certificate, AA:BB:...: what a client compares to know it is ours. */
  fingerprint: string
  /** The names it is for (subjectAltName), as printed: 'DNS:localhost, IP Address:127.0.0.1'. */
  names: string
  /** Where it came from: 'self-signed' or the --cert file. */
  source: string
  /** The --key file, when loaded from files. */
  keySource?: string
  validTo: string
}

/** The names a self-signed certificate is made for: what a local client connects to. */
export const SELF_SIGNED_NAMES = 'DNS:localhost,IP:127.0.0.1,IP:::1'
export const SELF_SIGNED_DAYS = 30

/**
 * Makes a self-signed certificate for localhost, 127.0.0.1 and ::1, valid SELF_SIGNED_DAYS days.
 * Throws an Error with a one-line message when openssl is missing or fails.
 */
export function selfSignedCertificate(): ServerCertificate {
  let out: string
  try {
    out = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '-',
        '-sha256', '-days', String(SELF_SIGNED_DAYS), '-subj', '/CN=localhost', '-addext', `subjectAltName=${SELF_SIGNED_NAMES}`], // prettier-ignore
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT') {
      throw new Error('making a self-signed certificate needs the openssl command (apt-get install openssl), or give --cert FILE --key FILE')
    }
    throw new Error(`openssl could not make a self-signed certificate: ${firstLine(e.stderr ?? e.message)}`)
  }
  const key = pemBlock(out, 'PRIVATE KEY')
  const cert = pemBlock(out, 'CERTIFICATE')
  if (!key || !cert) throw new Error('openssl could not make a self-signed certificate: no key or certificate in its output')
  return describeCertificate(cert, key, 'self-signed')
}

/**
 * Loads a certificate (PEM, may be followed by its chain) and its private key, and checks that
 * they belong together. Throws an Error with a one-line message naming the file and what is wrong.
 */
export function loadCertificate(certFile: string, keyFile: string): ServerCertificate {
  const cert = readPem('--cert', certFile)
  const key = readPem('--key', keyFile)
  let parsed: X509Certificate
  try {
    parsed = new X509Certificate(cert)
  } catch {
    throw new Error(`--cert ${certFile}: not a PEM certificate`)
  }
  try {
    tls.createSecureContext({ cert, key })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (/KEY_VALUES_MISMATCH/.test(e.code ?? '') || /key values mismatch/i.test(e.message)) {
      throw new Error(`--key ${keyFile} is not the private key of --cert ${certFile} (they do not match)`)
    }
    throw new Error(`--key ${keyFile}: not a usable private key (${firstLine(e.message)})`)
  }
  return { ...describeCertificate(cert, key, certFile, parsed), keySource: keyFile }
}

/**
 * Writes `cert` as PEM files (cert.pem, key.pem) into a new directory only this user can read,
 * removed when this process exits: for other processes to be given with --cert/--key (the
 * workers of --workers, the servers of one bench or soak run). Returns their paths.
 */
export function writeCertificateFiles(cert: Pick<ServerCertificate, 'cert' | 'key'>): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'selectloop-tls-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const certFile = path.join(dir, 'cert.pem')
  const keyFile = path.join(dir, 'key.pem')
  writeFileSync(certFile, cert.cert, { mode: 0o600 })
  writeFileSync(keyFile, cert.key, { mode: 0o600 })
  return { certFile, keyFile }
}

function describeCertificate(cert: string, key: string, source: string, parsed = new X509Certificate(cert)): ServerCertificate {
  return {
    cert,
    key,
    fingerprint: parsed.fingerprint256,
    names: parsed.subjectAltName ?? parsed.subject.replace(/\n/g, ', '),
    source,
    validTo: parsed.validTo,
  }
}

function readPem(option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : firstLine(e.message)
    throw new Error(`cannot read ${option} ${file}: ${why}`)
  }
}

function pemBlock(text: string, label: string): string | null {
  const m = new RegExp(`-----BEGIN ${label}-----[^-]+-----END ${label}-----\n?`).exec(text)
  return m ? m[0] : null
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? ''
}
