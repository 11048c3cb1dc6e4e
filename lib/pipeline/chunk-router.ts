/**
 * Routes arrays of messages into lanes: each array is split by `laneFor(message)`, keeping the
 * order of the messages within each lane; an array whose messages all go to one lane passes whole.
 * The processors' partitioning and the batchers' routing both use it.
 *
 * Buffer bound: as `LaneRouter`: `highWaterMark` arrays per lane, plus the shares of one write.
 */
import { LaneRouter } from '../internal/lane-router.js'
import type { Message } from '../message.js'

/** See the module comment. */
export class ChunkRouter extends LaneRouter<Message[]> {
  readonly #laneFor: (message: Message) => number
  readonly #maxChunk: number

  /** @param maxChunk most messages in one array a lane gets (a processor's `maxDemand`). */
  constructor(
    lanes: number,
    highWaterMark: number,
    laneFor: (message: Message) => number,
    maxChunk = Infinity,
  ) {
    super(lanes, highWaterMark)
    this.#laneFor = laneFor
    this.#maxChunk = maxChunk
  }

  protected route(chunk: Message[]): void {
    const laneFor = this.#laneFor
    const first = chunk[0]
    if (first === undefined) return
    const lane = laneFor(first)
    let i = 1
    while (i < chunk.length && laneFor(chunk[i] as Message) === lane) i++
    if (i === chunk.length) {
      this.#pushShare(lane, chunk)
      return
    }
    const shares: (Message[] | undefined)[] = []
    shares[lane] = chunk.slice(0, i)
    for (; i < chunk.length; i++) {
      const message = chunk[i] as Message
      const target = laneFor(message)
      const share = shares[target]
      if (share === undefined) shares[target] = [message]
      else share.push(message)
    }
    for (let l = 0; l < shares.length; l++) {
      const share = shares[l]
      if (share !== undefined) this.#pushShare(l, share)
    }
  }

  #pushShare(lane: number, share: Message[]): void {
    const max = this.#maxChunk
    if (share.length <= max) this.pushTo(lane, share)
    else for (let at = 0; at < share.length; at += max) this.pushTo(lane, share.slice(at, at + max))
  }
}
