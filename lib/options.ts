/**
 * Option schemas. One zod schema per options table holds each option's type, default and doc
 * (`.meta({ description })`); the validator, the TypeScript input type and the docs table
 * (`optionsTable`) all come from it. Validation runs once, when a stream or pipeline is built, never
 * per item.
 */
import { z } from 'zod'
import { InvalidOptionError, describeValue } from './errors.js'

/** An integer option `≥ min` (and `≤ max` when given); `Infinity` is accepted where `allowInfinity`. */
export function integer(
  min: number,
  { max, allowInfinity = false }: { max?: number; allowInfinity?: boolean } = {},
) {
  const rule = `must be an integer ≥ ${min}${max === undefined ? '' : ` and ≤ ${max}`}${allowInfinity ? ' (or Infinity)' : ''}`
  // z.custom, not z.number(): zod's number type rejects Infinity before any refinement runs.
  return z.custom<number>(
    (n) =>
      typeof n === 'number' &&
      ((allowInfinity && n === Infinity) ||
        (Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max))),
    { error: rule },
  )
}

/** A finite number option `≥ min`. */
export function finiteNumber(min: number) {
  const rule = `must be a finite number ≥ ${min}`
  return z.custom<number>((n) => typeof n === 'number' && Number.isFinite(n) && n >= min, { error: rule })
}

/** True for a one-character string of a single-byte (ASCII, non-NUL) character: a CSV separator COPY takes. */
export function isAsciiChar(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 1) return false
  const code = value.charCodeAt(0)
  return code > 0 && code < 128
}

/** An option holding one ASCII character (`isAsciiChar`). */
export function asciiChar() {
  return z.custom<string>(isAsciiChar, { error: 'must be one ASCII character' })
}

/** Defaults of a sink's retry options (each sink has its own: an HTTP `Retry-After` can be long). */
export interface RetryDefaults {
  readonly retries: number
  readonly minDelayMs: number
  readonly maxDelayMs: number
}

/**
 * The retry options every sink takes, one shape for all: `retries` after the first attempt, and a
 * backoff with full jitter from `minDelayMs` doubling to `maxDelayMs`. Spread into the sink's schema
 * with its defaults; check the pair with `delaysInOrder`.
 */
export function retryOptionFields(defaults: RetryDefaults, maxDelayNote = '') {
  const delay = integer(0, { max: 2 ** 31 - 1 })
  return {
    retries: integer(0)
      .default(defaults.retries)
      .meta({ description: 'Retries of a batch after its first attempt, on transient faults only.' }),
    minDelayMs: delay.default(defaults.minDelayMs).meta({
      description: 'Backoff cap before the first retry; doubles at each retry (full jitter below it).',
    }),
    maxDelayMs: delay
      .default(defaults.maxDelayMs)
      .meta({ description: `Longest wait before a retry${maxDelayNote}; at least \`minDelayMs\`.` }),
  }
}

/** The cross-field rule of `retryOptionFields`: `minDelayMs` ≤ `maxDelayMs`, reported on `maxDelayMs`. */
export function delaysInOrder(o: { minDelayMs: number; maxDelayMs: number }, ctx: z.RefinementCtx): void {
  if (o.minDelayMs > o.maxDelayMs)
    ctx.addIssue({
      code: 'custom',
      path: ['maxDelayMs'],
      message: `must be ≥ \`minDelayMs\` (${String(o.minDelayMs)}), got ${String(o.maxDelayMs)}`,
      input: o.maxDelayMs,
    })
}

/** A boolean option. */
export function boolean() {
  return z.boolean({ error: 'must be a boolean' })
}

/** A function option. The schema checks only that it is callable; `T` gives its TypeScript type. */
export function func<T extends (...args: never[]) => unknown>() {
  return z.custom<T>((v) => typeof v === 'function', { error: 'must be a function' })
}

/** An `AbortSignal` option. */
export function abortSignal() {
  return z.custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'must be an AbortSignal' })
}

/** Throws an `InvalidOptionError` naming `path` unless `value` is a function (a required argument). */
export function assertFunction(value: unknown, path: string): void {
  if (typeof value !== 'function')
    fail(path, `\`${path}\` must be a function, got ${describeValue(value)}`, value)
}

/** Options of a schema as users may pass them (defaults optional). */
export type OptionsInput<S extends z.ZodType> = z.input<S>
/** Options of a schema once validated and defaulted. */
export type ResolvedOptions<S extends z.ZodType> = Readonly<z.output<S>>

/**
 * Validates `input` against `schema` and returns the frozen, defaulted options, or throws an
 * `InvalidOptionError` whose message names the option's full path (`prefix` + key).
 * @param renamed old option names mapped to what to use instead, so a rename says so.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  prefix = 'options',
  renamed: Readonly<Record<string, string>> = {},
): ResolvedOptions<S> {
  const result = schema.safeParse(input ?? {})
  if (result.success) return Object.freeze(result.data)
  const issue = result.error.issues[0]
  if (issue === undefined) throw new InvalidOptionError(prefix, `\`${prefix}\` is invalid`, input)
  // An empty prefix names options by their own path (`processors.default.concurrency`).
  const parent = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.')
  const base = parent || 'options'
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? ''
    const path = parent === '' ? key : `${parent}.${key}`
    const instead = renamed[key]
    const hint = instead === undefined ? '' : `; use \`${instead}\` instead`
    return fail(path, `\`${path}\` is not an option${hint}`, valueAt(input, [...issue.path, key]))
  }
  if (issue.path.length === 0) {
    return fail(base, `\`${base}\` must be an object, got ${describeValue(input)}`, input)
  }
  // A secret (an auth header, say) is neither echoed in the message nor kept on the error.
  if (isSensitive(schema, issue.path[0])) return fail(base, `\`${base}\` ${issue.message}`, undefined)
  const value = valueAt(input, issue.path)
  return fail(base, `\`${base}\` ${issue.message}, got ${describeValue(value)}`, value)
}

/** True when option `key` of `schema` is marked `.meta({ sensitive: true })`. */
function isSensitive(schema: z.ZodType, key: PropertyKey | undefined): boolean {
  if (!(schema instanceof z.ZodObject) || typeof key !== 'string') return false
  const field = (schema.shape as Record<string, z.ZodType | undefined>)[key]
  return (field?.meta() as { sensitive?: boolean } | undefined)?.sensitive === true
}

function fail(path: string, message: string, value: unknown): never {
  throw new InvalidOptionError(path, message, value)
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/** One row of an options table, as the docs show it. */
export interface OptionDoc {
  name: string
  default: string
  description: string
}

/**
 * The rows of the docs table for an object schema: name, default and description of each option.
 * `test/docs.test.ts` checks that every page in `docs/` shows these rows.
 */
export function optionsTable(schema: z.ZodObject): OptionDoc[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const meta = (field as z.ZodType).meta() as { description?: string; default?: string } | undefined
    const def = defaultOf(field as z.ZodType)
    return {
      name,
      default: meta?.default ?? (def === undefined ? '—' : JSON.stringify(def)),
      description: meta?.description ?? '',
    }
  })
}

function defaultOf(field: z.ZodType): unknown {
  if (field instanceof z.ZodDefault) return field.def.defaultValue
  return undefined
}
