/**
 * ApiVersions v0–v2: the APIs the broker answers, each at `min = max =` its one version (kafkajs
 * ignores the minimum and takes min(its own maximum, the broker's maximum)). A newer version gets a
 * v0-shaped answer with UNSUPPORTED_VERSION and the list, as Kafka does, so that a client trying v3
 * first (librdkafka) can retry with a version from the list.
 */
import { Encoder } from '../codec.js'
import { apiKeys, apiVersions, kafkaErrorCodes, type ApiName } from '../protocol.js'
import type { ApiHandler, RequestContext } from './api.js'

const MAX_VERSION = 2

/** ApiVersions has no request fields at the versions answered; newer ones are not read. */
export type ApiVersionsRequest = Record<string, never>

function answer(version: number, errorCode: number): Encoder {
  const encoder = new Encoder()
    .writeInt16(errorCode)
    .writeArray(Object.keys(apiKeys) as ApiName[], (e, name) => {
      const max = apiVersions[name]
      e.writeInt16(apiKeys[name])
        .writeInt16(name === 'ApiVersions' ? 0 : max)
        .writeInt16(max)
    })
  if (version >= 1 && version <= MAX_VERSION) encoder.writeInt32(0)
  return encoder
}

/** ApiVersions v0–v2 (and newer versions answered with UNSUPPORTED_VERSION). */
export const apiVersionsApi: ApiHandler<ApiVersionsRequest> = {
  name: 'ApiVersions',
  accepts: (version) => version >= 0,
  decode: () => ({}),
  handle: (_request, { header }: RequestContext) =>
    header.apiVersion > MAX_VERSION
      ? answer(0, kafkaErrorCodes.UNSUPPORTED_VERSION)
      : answer(header.apiVersion, 0),
  fail: (_request, errorCode, { header }) =>
    answer(header.apiVersion > MAX_VERSION ? 0 : header.apiVersion, errorCode),
}
