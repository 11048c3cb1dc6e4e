/**
 * The shape of an API handler, and what a handler can reach: the request header, the connection it
 * came on, and the broker's state. Each handler decodes its request body, answers it, and can also
 * answer it with an error code everywhere the response carries one (fault injection).
 */
import type { Logger } from '../../../logger.js'
import type { Decoder, Encoder } from '../codec.js'
import type { GroupCoordinator } from '../group-coordinator.js'
import type { OffsetStore } from '../offset-store.js'
import type { ApiName, BrokerAddress } from '../protocol.js'
import type { TopicStore } from '../topic-store.js'

/** The header of a request (v1: no tagged fields). */
export interface RequestHeader {
  readonly apiKey: number
  readonly apiVersion: number
  readonly correlationId: number
  readonly clientId: string | null
}

/** The connection a request came on. */
export interface ConnectionInfo {
  /** Numbered from 1 in the order clients connected. */
  readonly id: number
  /** The peer's address, as DescribeGroups reports it (`/127.0.0.1`). */
  readonly clientHost: string
  /** Aborts when the connection closes, so long-polls stop waiting. */
  readonly signal: AbortSignal
}

/** The broker's state, as the handlers see it. */
export interface BrokerState {
  readonly address: BrokerAddress
  readonly clusterId: string
  readonly topics: TopicStore
  readonly groups: GroupCoordinator
  readonly offsets: OffsetStore
  readonly defaultPartitions: number
  readonly autoCreateTopics: boolean
  readonly logger: Logger
  /** A producer id never handed out before. */
  nextProducerId(): bigint
}

/** Everything a handler gets besides its request. */
export interface RequestContext {
  readonly header: RequestHeader
  readonly connection: ConnectionInfo
  readonly broker: BrokerState
}

/** What a handler answers: a response body, or `undefined` for none (Produce with acks 0). */
export type Answer = Encoder | undefined

/** One API at the broker's version of it. */
export interface ApiHandler<R> {
  readonly name: ApiName
  /** Whether the broker answers this version; when absent, only the version in `apiVersions`. */
  accepts?(version: number): boolean
  decode(decoder: Decoder, version: number): R
  handle(request: R, context: RequestContext): Answer | Promise<Answer>
  /** The answer to `request` with `errorCode` in each of its error fields. */
  fail(request: R, errorCode: number, context: RequestContext): Answer
}
