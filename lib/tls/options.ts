// The TLS options, declared once and spread into each command's option table: the servers'
// (`echo`, `chat`: --tls, --cert, --key, --handshake-timeout) and the clients' (`client`, `load`,
// `bench`, `soak`: --tls, --ca, --insecure). Each command's usage gets its lines from here too.
import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import { UsageError, parseNumberOption } from '../cli/args.js'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, type TlsClientOptions, type TlsServerOptions } from '../../reactor/index.js'
import { loadCertificate, selfSignedCertificate, writeCertificateFiles, type ServerCertificate } from './certificate.js'

export const TLS_SERVER_OPTIONS = {
  tls: { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'handshake-timeout': { type: 'string' },
} as const

export const TLS_CLIENT_OPTIONS = {
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
} as const

/** An option's name, then its text at column `width` (on the next line when the name is longer). */
function optionLine(name: string, width: number): string {
  return name.length < width ? `  ${name.padEnd(width)}` : `  ${name}\n${' '.repeat(width + 2)}`
}

/** The servers' usage synopsis and option lines, aligned at `width` (the command's own column). */
export const TLS_SERVER_SYNOPSIS = '[--tls [--cert FILE --key FILE] [--handshake-timeout S]]'
export function tlsServerUsage(width: number): string {
  const pad = (name: string) => optionLine(name, width)
  const more = ' '.repeat(width + 2)
  return [
    `${pad('--tls')}speak TLS; without --cert/--key, a self-signed certificate for localhost is`,
    `${more}made at start and its SHA-256 fingerprint printed on stderr`,
    `${pad('--cert, --key')}with --tls: the certificate (PEM, chain after it) and its private key`,
    `${pad('--handshake-timeout')}with --tls: seconds a client has to finish its handshake (default ${DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000})`,
  ].join('\n')
}

export const TLS_CLIENT_SYNOPSIS = '[--tls [--ca FILE | --insecure]]'
export function tlsClientUsage(width: number): string {
  const pad = (name: string) => optionLine(name, width)
  const more = ' '.repeat(width + 2)
  return [
    `${pad('--tls')}connect with TLS, verifying the server's certificate (the system's roots)`,
    `${pad('--ca')}with --tls: trust the certificate(s) in this PEM file (e.g. the server's --cert)`,
    `${pad('--insecure')}with --tls: accept any certificate (a self-signed one: compare the`,
    `${more}fingerprint printed with the server's)`,
  ].join('\n')
}

/** A server's TLS, ready to listen with: the reactor's options plus what to tell the operator. */
export interface TlsServerConfig extends TlsServerOptions {
  handshakeTimeoutMs: number
  certificate: ServerCertificate
}

type ServerValues = { tls?: boolean; cert?: string; key?: string; 'handshake-timeout'?: string }

/**
 * The server's TLS from its command line: null without --tls. Raises UsageError for options that
 * do not go together; an Error with a one-line message for files that cannot be read or do not
 * match (exit status 1), or when no certificate can be made.
 */
export function tlsServerConfig(v: ServerValues): TlsServerConfig | null {
  if (!v.tls) {
    const stray = v.cert !== undefined ? '--cert' : v.key !== undefined ? '--key' : v['handshake-timeout'] !== undefined ? '--handshake-timeout' : null
    if (stray) throw new UsageError(`${stray} goes with --tls`)
    return null
  }
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key go together')
  const handshakeTimeoutMs =
    v['handshake-timeout'] === undefined
      ? DEFAULT_HANDSHAKE_TIMEOUT_MS
      : parseNumberOption('--handshake-timeout', v['handshake-timeout'], 0.01, 3600) * 1000
  const certificate = v.cert !== undefined ? loadCertificate(v.cert, v.key!) : selfSignedCertificate()
  const secureContext = tls.createSecureContext({ cert: certificate.cert, key: certificate.key })
  return { secureContext, handshakeTimeoutMs, certificate }
}

/**
 * tlsServerConfig, and its lines on stderr (which certificate, its fingerprint) unless `quiet`:
 * a worker of --workers, whose primary has said them for every worker.
 */
export function serverTls(v: ServerValues, quiet: boolean): TlsServerConfig | null {
  const config = tlsServerConfig(v)
  if (config && !quiet) process.stderr.write(describeServerTls(config))
  return config
}

/** The lines a TLS server prints on stderr at start: which certificate, and its fingerprint. */
export function describeServerTls(config: TlsServerConfig): string {
  const c = config.certificate
  const origin = c.source === 'self-signed' ? 'a self-signed certificate made now' : `certificate ${c.source}`
  return `tls: ${origin}, for ${c.names}, valid to ${c.validTo}\ntls: SHA-256 fingerprint ${c.fingerprint}\n`
}

/**
 * The arguments that give other processes of the same server (--workers) this very certificate:
 * `--cert FILE --key FILE`. A self-signed one is written to a directory only this user can read,
 * removed when this process exits; every process then shows clients one certificate, one
 * fingerprint (each making its own would give each its own).
 */
export function certificateArgs(config: TlsServerConfig): string[] {
  const c = config.certificate
  if (c.source !== 'self-signed') return ['--cert', c.source, '--key', c.keySource ?? '']
  const { certFile, keyFile } = writeCertificateFiles(c)
  return ['--cert', certFile, '--key', keyFile]
}

/** What a client's command line said about TLS: plain data (it crosses to load threads and processes). */
export interface TlsClientSettings {
  /** A PEM file of certificates to trust, or null for the system's roots. */
  caFile: string | null
  insecure: boolean
}

type ClientValues = { tls?: boolean; ca?: string; insecure?: boolean }

/** The client's TLS from its command line: null without --tls. Raises UsageError for stray options. */
export function tlsClientSettings(v: ClientValues): TlsClientSettings | null {
  if (!v.tls) {
    const stray = v.ca !== undefined ? '--ca' : v.insecure ? '--insecure' : null
    if (stray) throw new UsageError(`${stray} goes with --tls`)
    return null
  }
  if (v.ca !== undefined && v.insecure) throw new UsageError('--ca and --insecure: one or the other')
  return { caFile: v.ca ?? null, insecure: Boolean(v.insecure) }
}

/** The arguments that say `settings` again: tlsClientSettings(parse(tlsClientArgs(s))) is s. */
export function tlsClientArgs(settings: TlsClientSettings | null | undefined): string[] {
  if (!settings) return []
  if (settings.insecure) return ['--tls', '--insecure']
  return settings.caFile === null ? ['--tls'] : ['--tls', '--ca', settings.caFile]
}

/**
 * The reactor's client options for `settings` (reads the --ca file). Throws an Error with a
 * one-line message when the file cannot be read or holds no certificate.
 */
export function tlsClientOptions(settings: TlsClientSettings): TlsClientOptions {
  if (settings.insecure) return { rejectUnauthorized: false }
  if (settings.caFile === null) return { rejectUnauthorized: true }
  let ca: string
  try {
    ca = readFileSync(settings.caFile, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new Error(`cannot read --ca ${settings.caFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`)
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`--ca ${settings.caFile}: no PEM certificate in it`)
  return { ca, rejectUnauthorized: true }
}
