/**
 * From a request frame to a response frame: reads the header, picks the API's handler, decodes the
 * body, reports the request, and answers it, or answers it with an injected error instead. A request
 * the broker cannot read (an unknown API, another version, a malformed body) throws, and the
 * connection it came on is closed, as Kafka does.
 */
import { KafkaTestBrokerError } from '../../errors.js'
import { Decoder } from './codec.js'
import type { ApiHandler, BrokerState, ConnectionInfo, RequestHeader } from './apis/api.js'
import { handlers, type ApiRequests } from './apis/index.js'
import { apiName, apiVersions, type ApiName } from './protocol.js'

/** A request as the broker received it: the `'request'` event of `KafkaTestBroker`. */
export type BrokerRequestEvent = {
  readonly [K in ApiName]: {
    readonly api: K
    readonly apiKey: number
    readonly version: number
    readonly correlationId: number
    readonly clientId: string | null
    /** The connection it came on, numbered from 1 in the order clients connected. */
    readonly connectionId: number
    /** The decoded request body. Byte fields are views of the request: copy what you keep. */
    readonly request: ApiRequests[K]
    /** The error code answered instead of handling it (`injectError`), if any. */
    readonly injectedError: number | undefined
  }
}[ApiName]

/** Errors queued by `injectError`, per API. */
export class InjectedErrors {
  private readonly queues = new Map<ApiName, { errorCode: number; remaining: number }[]>()

  add(api: ApiName, errorCode: number, count: number): void {
    const queue = this.queues.get(api) ?? []
    queue.push({ errorCode, remaining: count })
    this.queues.set(api, queue)
  }

  /** The error code the next request of `api` is answered with, if one is queued. */
  take(api: ApiName): number | undefined {
    const queue = this.queues.get(api)
    const next = queue?.[0]
    if (queue === undefined || next === undefined) return undefined
    if (--next.remaining <= 0) queue.shift()
    return next.errorCode
  }

  clear(): void {
    this.queues.clear()
  }
}

/** Answers request frames against the broker's state. */
export class Dispatcher {
  constructor(
    private readonly state: BrokerState,
    private readonly injected: InjectedErrors,
    private readonly report: (event: BrokerRequestEvent) => void,
  ) {}

  /** The response frame (size, correlation id, body) for `frame`, or `undefined` when none is due. */
  async dispatch(frame: Buffer, connection: ConnectionInfo): Promise<Buffer[] | undefined> {
    const decoder = new Decoder(frame)
    const header: RequestHeader = {
      apiKey: decoder.readInt16(),
      apiVersion: decoder.readInt16(),
      correlationId: decoder.readInt32(),
      clientId: decoder.readNullableString(),
    }
    const name = apiName(header.apiKey)
    if (name === undefined) throw new KafkaTestBrokerError(`Unsupported API key ${String(header.apiKey)}`)
    const handler = handlers[name] as ApiHandler<unknown>
    const version = header.apiVersion
    if (!(handler.accepts?.(version) ?? version === apiVersions[name]))
      throw new KafkaTestBrokerError(
        `Unsupported version ${String(version)} of ${name}; the broker answers version ${String(apiVersions[name])}`,
      )
    const request = handler.decode(decoder, version)
    const context = { header, connection, broker: this.state }
    const injectedError = this.injected.take(name)
    this.report({
      api: name,
      apiKey: header.apiKey,
      version,
      correlationId: header.correlationId,
      clientId: header.clientId,
      connectionId: connection.id,
      request,
      injectedError,
    } as BrokerRequestEvent)
    const answer =
      injectedError === undefined
        ? await handler.handle(request, context)
        : handler.fail(request, injectedError, context)
    if (answer === undefined) return undefined
    const head = Buffer.allocUnsafe(8)
    head.writeInt32BE(4 + answer.length, 0)
    head.writeInt32BE(header.correlationId, 4)
    return [head, ...answer.chunks()]
  }
}
