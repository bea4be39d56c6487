// Runs the selector contract against every selector implementation.
import t from 'tap'
import { DefaultSelector, ReadyListSelector, ScanSelector } from '../reactor/index.js'
import { selectorContract } from './selector-contract.js'

t.equal(DefaultSelector, ReadyListSelector, 'DefaultSelector is the ready-list selector')
t.test('ReadyListSelector (DefaultSelector)', async t => selectorContract(t, () => new ReadyListSelector()))
t.test('ScanSelector', async t => selectorContract(t, () => new ScanSelector()))
