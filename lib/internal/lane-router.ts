/**
 * A Writable that routes each written chunk into one or more of N lane Readables. A write is held
 * while any lane it filled is above its high-water mark, and released when every such lane has
 * been read below it, so a stalled lane stops the writer and no lane grows past
 * `highWaterMark` + one chunk's share. Shared by `partitionBy` (one item per write) and the
 * pipeline's routers (an array of messages per write, split by lane).
 */
import { Readable, Writable } from 'node:stream'
import { PrematureCloseError, toError } from '../errors.js'

type Callback = (error?: Error | null) => void

/** One lane of a router: a Readable fed by the router. */
class Lane extends Readable {
  /** The router holds a write until this lane is read below its high-water mark. */
  blocked = false

  constructor(
    private readonly router: LaneRouter<unknown>,
    highWaterMark: number,
  ) {
    super({ objectMode: true, highWaterMark })
  }

  override _read(): void {
    this.router.laneWantsMore(this)
  }

  override _destroy(error: Error | null, callback: Callback): void {
    // A lane torn down before it ended tears down the router, so the writer does not wait forever.
    if (error !== null) this.router.destroy(error)
    else if (!this.readableEnded)
      this.router.destroy(new PrematureCloseError('A partition lane was destroyed before it ended'))
    callback(error)
  }
}

/** See the module comment. Subclasses implement `route`, which calls `pushTo` for each share. */
export abstract class LaneRouter<C> extends Writable {
  /** One Readable per lane. */
  readonly lanes: readonly Readable[]
  readonly #lanes: readonly Lane[]
  #blocked = 0
  #writeCallback: Callback | null = null

  constructor(lanes: number, highWaterMark: number) {
    super({ objectMode: true, highWaterMark })
    this.#lanes = Array.from({ length: lanes }, () => new Lane(this as LaneRouter<unknown>, highWaterMark))
    this.lanes = this.#lanes
  }

  /** Routes one written chunk: calls `pushTo(lane, share)` for each lane that gets a share. */
  protected abstract route(chunk: C): void

  /** Pushes `share` to lane `index`, noting when the lane is full. */
  protected pushTo(index: number, share: unknown): void {
    const lane = this.#lanes[index] as Lane
    if (!lane.push(share) && !lane.blocked) {
      lane.blocked = true
      this.#blocked++
    }
  }

  override _write(chunk: C, _encoding: BufferEncoding, callback: Callback): void {
    try {
      this.route(chunk)
    } catch (error) {
      callback(toError(error))
      return
    }
    if (this.#blocked === 0) callback()
    else this.#writeCallback = callback
  }

  override _final(callback: Callback): void {
    for (const lane of this.#lanes) lane.push(null)
    callback()
  }

  override _destroy(error: Error | null, callback: Callback): void {
    // After a clean finish the lanes have their end and may still hold items: leave them to drain.
    // Torn down before that, the lanes can never end, so they fail too.
    if (error !== null || !this.writableFinished) {
      const reason = error ?? new PrematureCloseError('The partition router was destroyed before it finished')
      for (const lane of this.#lanes) if (!lane.destroyed) lane.destroy(reason)
    }
    callback(error)
  }

  /** @internal A lane was read below its high-water mark. */
  laneWantsMore(lane: Lane): void {
    if (!lane.blocked) return
    lane.blocked = false
    if (--this.#blocked > 0) return
    const callback = this.#writeCallback
    this.#writeCallback = null
    callback?.()
  }
}
