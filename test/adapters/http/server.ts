/** A real HTTP server on 127.0.0.1 for the HTTP sink's tests, recording every request it gets. */
import type { Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request as the server received it. */
export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** The idempotency key header, if any. */
  readonly key: string | undefined
}

/** Answers a request: `n` is the request's 1-based number at this server. */
export type Answer = (req: Received, res: ServerResponse, n: number) => void

export interface TestServer {
  readonly url: string
  readonly requests: Received[]
}

/** Starts a server with `answer`, closed (with its open connections) at the end of the test. */
export async function startServer(t: Test, answer: Answer): Promise<TestServer> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const key = req.headers['idempotency-key']
      const received: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        key: typeof key === 'string' ? key : undefined,
      }
      requests.push(received)
      answer(received, res, requests.length)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${String(port)}`, requests }
}

/** Answers 200 with an empty JSON object. */
export function ok(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
}
