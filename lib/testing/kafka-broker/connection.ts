/**
 * One client connection: cuts the byte stream into request frames by their INT32 size, and handles
 * them one after the other on a promise chain, so that responses go out in request order, as Kafka
 * guarantees. A long-poll (Fetch, JoinGroup, SyncGroup) holds up only its own connection.
 *
 * Memory: the bytes of at most one incomplete frame (≤ `MAX_FRAME_BYTES`), plus the frames received
 * while an earlier one is handled (a client pipelines only what it has in flight).
 */
import type { Socket } from 'node:net'
import type { Logger } from '../../logger.js'
import type { ConnectionInfo } from './apis/api.js'

/** Kafka's default `socket.request.max.bytes`. */
const MAX_FRAME_BYTES = 100 * 1024 * 1024

/** Answers one request frame with a response frame, or with nothing; throws to close the connection. */
export type FrameHandler = (frame: Buffer, connection: ConnectionInfo) => Promise<Buffer[] | undefined>

/** A client's TCP connection to the broker. */
export class Connection {
  readonly info: ConnectionInfo
  private readonly controller = new AbortController()
  private chunks: Buffer[] = []
  private buffered = 0
  private frameSize = -1
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly socket: Socket,
    id: number,
    private readonly handle: FrameHandler,
    private readonly logger: Logger,
  ) {
    this.info = { id, clientHost: `/${socket.remoteAddress ?? ''}`, signal: this.controller.signal }
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.received(chunk)
    })
    socket.on('error', (error) => {
      this.logger.debug({ connection: id, err: error }, 'connection error')
    })
    socket.on('close', () => {
      this.controller.abort()
    })
  }

  /** Closes the connection at once; requests in progress are answered to no one. */
  destroy(): void {
    this.socket.destroy()
    this.controller.abort()
  }

  private received(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      if (this.frameSize < 0) {
        if (this.buffered < 4) return
        this.frameSize = this.take(4).readInt32BE(0)
        if (this.frameSize < 0 || this.frameSize > MAX_FRAME_BYTES) {
          this.logger.warn(
            { connection: this.info.id, size: this.frameSize },
            'closing connection: bad frame size',
          )
          this.destroy()
          return
        }
      }
      if (this.buffered < this.frameSize) return
      const frame = this.take(this.frameSize)
      this.frameSize = -1
      this.chain = this.chain.then(() => this.answer(frame))
    }
  }

  /** The next `bytes` bytes received, joined only when they span chunks. */
  private take(bytes: number): Buffer {
    this.buffered -= bytes
    const first = this.chunks[0]
    if (first !== undefined && first.length >= bytes) {
      if (first.length === bytes) this.chunks.shift()
      else this.chunks[0] = first.subarray(bytes)
      return first.subarray(0, bytes)
    }
    const all = Buffer.concat(this.chunks)
    this.chunks = all.length > bytes ? [all.subarray(bytes)] : []
    return all.subarray(0, bytes)
  }

  private async answer(frame: Buffer): Promise<void> {
    if (this.controller.signal.aborted) return
    try {
      const response = await this.handle(frame, this.info)
      if (response === undefined || this.socket.destroyed) return
      this.socket.cork()
      for (const chunk of response) this.socket.write(chunk)
      this.socket.uncork()
    } catch (error) {
      this.logger.warn({ connection: this.info.id, err: error }, 'closing connection: request not understood')
      this.destroy()
    }
  }
}
