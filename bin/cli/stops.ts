/**
 * How a CLI run is stopped: the first SIGINT / SIGTERM (`io.signals`) stops the pipeline gracefully
 * (`stopOnSignals`; its listeners and these go, so a second signal kills at once), and so does the
 * abort of `io.signal` (the tests' stop button).
 */
import type { Pipeline } from '../../lib/pipeline/pipeline.js'
import { stopOnSignals } from '../../lib/pipeline/signals.js'
import type { CliIo } from './io.js'

/** A started pipeline and how it was stopped. */
export interface StoppableRun {
  /** `pipeline.start()`. */
  readonly started: Promise<unknown>
  /** The signal (or `'abort'`) that stopped it, if one did. */
  stoppedBy(): string | undefined
  /** Removes the listeners (call once the pipeline is done). */
  release(): void
}

/** Starts `pipeline` with its stops wired to `io`. */
export function startWithStops(pipeline: Pipeline<never, never>, io: CliIo): StoppableRun {
  let stoppedBy: string | undefined
  const signals = io.signals ?? ['SIGTERM', 'SIGINT']
  const onSignal = (signal: NodeJS.Signals): void => {
    stoppedBy ??= signal
  }
  for (const signal of signals) process.once(signal, onSignal)
  const onAbort = (): void => {
    stoppedBy ??= 'abort'
    void pipeline.stop().catch(() => undefined)
  }
  const started = pipeline.start()
  const removeSignals = stopOnSignals(pipeline, { signals })
  io.signal?.addEventListener('abort', onAbort, { once: true })
  if (io.signal?.aborted === true) onAbort()
  return {
    started,
    stoppedBy: () => stoppedBy,
    release() {
      removeSignals()
      for (const signal of signals) process.off(signal, onSignal)
      io.signal?.removeEventListener('abort', onAbort)
    },
  }
}
