// TLS failures said in words, for the servers' logs and the clients' last line. OpenSSL's own
// messages ("wrong version number") name the symptom; these name the likely cause and the fix.

/** A description of a TLS error as a server sees it (a client's failed handshake), or null if it is not one. */
export function describeServerTlsError(err: NodeJS.ErrnoException): string | null {
  switch (err.code) {
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_UNKNOWN_PROTOCOL':
    case 'ERR_SSL_RECORD_LAYER_FAILURE':
      return 'not a TLS client (plaintext on a TLS port?)'
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return 'TLS handshake not finished in time'
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN':
      return 'the client does not trust our certificate'
    default:
      return tlsCode(err) ? `TLS: ${reason(err)}` : null
  }
}

/** A description of a TLS error as a client sees it, with what to do about it, or null if it is not one. */
export function describeClientTlsError(err: NodeJS.ErrnoException): string | null {
  switch (err.code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return "the server's certificate is not trusted (self-signed?): give --ca FILE with its certificate, or --insecure and compare its fingerprint with the one the server printed"
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's certificate is not for this name (${err.message.replace(/^.*?: /, '')})`
    case 'CERT_HAS_EXPIRED':
      return "the server's certificate has expired"
    case 'CERT_NOT_YET_VALID':
      return "the server's certificate is not valid yet"
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_UNKNOWN_PROTOCOL':
    case 'ERR_SSL_UNEXPECTED_MESSAGE':
    case 'ERR_SSL_RECORD_LAYER_FAILURE':
      return 'the server does not speak TLS (started without --tls?)'
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return 'TLS handshake not finished in time'
    default:
      return tlsCode(err) ? `TLS: ${reason(err)}` : null
  }
}

function tlsCode(err: NodeJS.ErrnoException): boolean {
  return /^ERR_(SSL|TLS|OSSL)_/.test(err.code ?? '') || (err as { library?: string }).library === 'SSL routines'
}

/** OpenSSL's reason ("wrong version number"), without its error-queue prefix. */
function reason(err: NodeJS.ErrnoException): string {
  return (err as { reason?: string }).reason ?? err.message.split('\n')[0].replace(/^.*:(?=[^:]+$)/, '').trim()
}
