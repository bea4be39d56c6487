// The echo handler of the `threads` model: runs on its own thread, one per connection, and reads
// like the classic Python threaded echo server. recv blocks until bytes or EOF; sendall blocks
// while the client is not reading its echoes (that is the backpressure).
import type { BlockingConnection } from '../threads/connection.js'

export function handle(conn: BlockingConnection): void {
  try {
    while (true) {
      const data = conn.recv(65536)
      if (data.length === 0) break // the client half-closed: our FIN follows its last echo
      conn.sendall(data)
    }
  } finally {
    conn.close()
  }
}
