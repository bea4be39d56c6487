// The echo handler of the `threads` model: runs on its own thread, one per connection, and reads
// like the classic Python threaded echo server. recv_into blocks until bytes or EOF; sendall blocks
// while the client is not reading its echoes (that is the backpressure).
//
// recvInto with one buffer per thread rather than `conn.recv(65536)`: same behaviour, but recv
// allocates a new Buffer per call, and with 100 connections of 64 KiB messages that garbage cost
// a third of the throughput here.
import type { BlockingConnection } from '../threads/connection.js'

const buffer = Buffer.allocUnsafe(65536) // module state is per thread: each thread has its own

export function handle(conn: BlockingConnection): void {
  try {
    while (true) {
      const n = conn.recvInto(buffer)
      if (n === 0) break // the client half-closed: our FIN follows its last echo
      conn.sendall(buffer.subarray(0, n))
    }
  } finally {
    conn.close()
  }
}
