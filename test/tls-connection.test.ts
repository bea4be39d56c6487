// TLS connections in the reactor: the selector contract over TLS, then what is TLS's own —
// no WRITE before the handshake, READ while decrypted bytes wait, handshake and record errors as
// the connection's error, the handshake timeout, half-close, reset.
import t from 'tap'
import { ReadyListSelector, ScanSelector } from '../reactor/index.js'
import { selectorContract } from './selector-contract.js'
import { tlsTransport } from './helpers/tls.js'

t.test('selector contract over TLS: ReadyListSelector', async t => selectorContract(t, () => new ReadyListSelector(), tlsTransport))
t.test('selector contract over TLS: ScanSelector', async t => selectorContract(t, () => new ScanSelector(), tlsTransport))
