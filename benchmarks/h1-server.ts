/**
 * H1's HTTP server, run in a process of its own (`child_process.fork`): answers every request 200
 * with an empty body once the request body has arrived, counts the batch and its records (the
 * `{"id":` that starts each record object), and discards the body. It sends `{ port }` to the parent
 * once listening; on the message `'take'` it sends `{ records, batches }` counted since the last
 * `'take'` and resets them. It exits when the parent disconnects.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const RECORD_START = Buffer.from('{"id":')
let records = 0
let batches = 0

/** Occurrences of `RECORD_START` in `body`. */
function countRecords(body: Buffer): number {
  let count = 0
  for (let at = body.indexOf(RECORD_START); at !== -1; at = body.indexOf(RECORD_START, at + 1)) count++
  return count
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    records += countRecords(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
    batches++
    response.writeHead(200, { 'content-length': '0' })
    response.end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port })
})
process.on('message', (message) => {
  if (message !== 'take') return
  process.send!({ records, batches })
  records = 0
  batches = 0
})
process.on('disconnect', () => {
  server.close()
  server.closeAllConnections()
})
