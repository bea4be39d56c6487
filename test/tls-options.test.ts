// lib/tls's pure parts in-process: the options (what goes together, the arguments that say the
// same again, the usage lines), the certificate loader's checks, and TLS failures said in words.
import t from 'tap'
import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  certificateArgs,
  describeServerTls,
  tlsClientArgs,
  tlsClientOptions,
  tlsClientSettings,
  tlsClientUsage,
  tlsServerConfig,
  tlsServerUsage,
} from '../lib/tls/options.js'
import { describeClientTlsError, describeServerTlsError } from '../lib/tls/errors.js'
import { loadCertificate } from '../lib/tls/certificate.js'
import { testCertificate } from './helpers/tls.js'

const cert = testCertificate()

const err = (code: string, message = code, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { code, ...extra }) as NodeJS.ErrnoException

t.test('client settings: parsed, spelled back out, turned into the reactor\'s options', async t => {
  t.equal(tlsClientSettings({}), null, 'no --tls: plain TCP')
  for (const s of [
    { caFile: null, insecure: false },
    { caFile: cert.certFile, insecure: false },
    { caFile: null, insecure: true },
  ]) {
    const args = tlsClientArgs(s)
    const v = { tls: args.includes('--tls'), ca: args.includes('--ca') ? args[args.indexOf('--ca') + 1] : undefined, insecure: args.includes('--insecure') }
    t.same(tlsClientSettings(v), s, `${args.join(' ')} reads back the same`)
  }
  t.same(tlsClientArgs(null), [])
  t.same(tlsClientOptions({ caFile: null, insecure: true }), { rejectUnauthorized: false })
  t.same(tlsClientOptions({ caFile: null, insecure: false }), { rejectUnauthorized: true }, 'the system roots')
  t.equal(tlsClientOptions({ caFile: cert.certFile, insecure: false }).ca, cert.cert, 'the --ca file, read')
  t.throws(() => tlsClientSettings({ ca: 'x' }), { name: 'UsageError', message: '--ca goes with --tls' })
})

t.test('server config: what goes together, the certificate loaded, what is printed', async t => {
  t.equal(tlsServerConfig({}), null)
  t.throws(() => tlsServerConfig({ key: 'k' }), { name: 'UsageError', message: '--key goes with --tls' })
  t.throws(() => tlsServerConfig({ 'handshake-timeout': '3' }), { name: 'UsageError', message: '--handshake-timeout goes with --tls' })
  t.throws(() => tlsServerConfig({ tls: true, key: cert.keyFile }), { message: '--cert and --key go together' })
  const c = tlsServerConfig({ tls: true, cert: cert.certFile, key: cert.keyFile, 'handshake-timeout': '2.5' })!
  t.equal(c.handshakeTimeoutMs, 2500)
  t.equal(c.certificate.fingerprint, cert.fingerprint)
  t.match(describeServerTls(c), `tls: certificate ${cert.certFile}, for DNS:localhost, IP Address:127.0.0.1`)
  t.match(describeServerTls(c), `tls: SHA-256 fingerprint ${cert.fingerprint}\n`)
  const made = tlsServerConfig({ tls: true })!
  t.equal(made.certificate.source, 'self-signed')
  t.match(describeServerTls(made), /^tls: a self-signed certificate made now, for /)
  t.not(made.certificate.fingerprint, cert.fingerprint, 'a new one each time')

  // For --workers: the same certificate again in another process, from files.
  t.same(certificateArgs(c), ['--cert', cert.certFile, '--key', cert.keyFile], 'files given: the same files')
  const args = certificateArgs(made)
  const again = tlsServerConfig({ tls: true, cert: args[1], key: args[3] })!
  t.equal(again.certificate.fingerprint, made.certificate.fingerprint, 'self-signed: written once, read back the same')
  t.equal(statSync(args[3]).mode & 0o777, 0o600, 'its key readable by this user only')
})

t.test('the certificate loader: a chain after the certificate is fine; a key that is not one is said so', async t => {
  const dir = path.dirname(cert.certFile)
  const chain = path.join(dir, 'chain.pem')
  writeFileSync(chain, cert.cert + cert.cert)
  t.equal(loadCertificate(chain, cert.keyFile).fingerprint, cert.fingerprint, 'the first certificate is the one described')
  const garbledKey = path.join(dir, 'garbled-key.pem')
  writeFileSync(garbledKey, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')
  t.throws(() => loadCertificate(cert.certFile, garbledKey), { message: /^--key \S+garbled-key\.pem: not a usable private key/ })
})

t.test('usage lines are aligned at the command\'s own column; long names go on a line of their own', async t => {
  for (const width of [9, 12, 15, 16]) {
    for (const text of [tlsServerUsage(width), tlsClientUsage(width)]) {
      for (const line of text.split('\n')) {
        // Either an option name alone (too long for the column: its text follows on the next
        // line), or text that starts exactly at the column, after a space.
        const alone = /^ {2}--[a-z-]+(, --[a-z-]+)?$/.test(line)
        t.ok(alone || (line[width + 1] === ' ' && line[width + 2] !== ' '), `${width}: ${line}`)
      }
    }
  }
})

t.test('TLS failures said in words, with what to do', async t => {
  const server: Array<[string, RegExp]> = [
    ['ERR_SSL_WRONG_VERSION_NUMBER', /not a TLS client/],
    ['ERR_SSL_HTTP_REQUEST', /not a TLS client/],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', /not finished in time/],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', /does not trust our certificate/],
  ]
  for (const [code, re] of server) t.match(describeServerTlsError(err(code)), re, code)
  t.equal(describeServerTlsError(err('ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM', 'x', { reason: 'no suitable signature algorithm' })), 'TLS: no suitable signature algorithm')
  t.equal(describeServerTlsError(err('ECONNRESET')), null, 'not a TLS error')

  const client: Array<[string, RegExp]> = [
    ['DEPTH_ZERO_SELF_SIGNED_CERT', /not trusted \(self-signed\?\): give --ca FILE/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', /not trusted/],
    ['CERT_HAS_EXPIRED', /has expired/],
    ['CERT_NOT_YET_VALID', /not valid yet/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', /does not speak TLS \(started without --tls\?\)/],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', /not finished in time/],
  ]
  for (const [code, re] of client) t.match(describeClientTlsError(err(code)), re, code)
  t.equal(
    describeClientTlsError(err('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: example.com. is not in the cert's altnames: DNS:localhost")),
    "the server's certificate is not for this name (Host: example.com. is not in the cert's altnames: DNS:localhost)",
  )
  t.equal(
    describeClientTlsError(err('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'C0:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure')),
    'TLS: sslv3 alert handshake failure',
    "OpenSSL's reason, without its error-queue prefix",
  )
  t.equal(describeClientTlsError(err('ECONNREFUSED')), null)
})
