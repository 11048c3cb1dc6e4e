/**
 * `stopOnSignals`: wires SIGTERM and SIGINT to a pipeline's graceful `stop()`. The first signal
 * stops the pipeline; the listeners go with it, so a second Ctrl-C gets Node's default (exit at
 * once) for an operator who will not wait.
 */
import { toError } from '../errors.js'
import type { Pipeline, StopReport } from './pipeline.js'

/** Options of `stopOnSignals`. */
export interface StopOnSignalsOptions {
  /** @default ['SIGTERM', 'SIGINT'] */
  signals?: readonly NodeJS.Signals[]
  /** Called with the report once the pipeline has stopped after a signal. */
  onStopped?: (report: StopReport, signal: NodeJS.Signals) => void
}

/**
 * Stops `pipeline` gracefully on the first of `signals`. Returns a function that removes the
 * listeners (call it when the pipeline stops some other way).
 * @example
 * const remove = stopOnSignals(pipeline, { onStopped: (r) => { process.exitCode = r.unacked ? 1 : 0 } })
 */
export function stopOnSignals(
  pipeline: Pipeline<never, never>,
  options: StopOnSignalsOptions = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT']
  const listeners = signals.map((signal) => {
    const onSignal = (): void => {
      remove()
      pipeline
        .stop()
        .then((report) => options.onStopped?.(report, signal))
        .catch((error: unknown) => {
          // A signal before start(), or an onStopped that threw: nothing to crash the process for.
          process.emitWarning(toError(error))
        })
    }
    return [signal, onSignal] as const
  })
  const remove = (): void => {
    for (const [signal, onSignal] of listeners) process.off(signal, onSignal)
  }
  for (const [signal, onSignal] of listeners) process.on(signal, onSignal)
  void pipeline.done.then(remove)
  return remove
}
