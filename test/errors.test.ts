import t from 'tap'
import { readFileSync } from 'node:fs'
import * as streamway from '../lib/index.js'
import { StreamwayError, errorCodes } from '../lib/index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
/** Codes in the `| Code | Class | When |` table of docs/errors.md, with their class names. */
const documented = new Map(
  [...docs.matchAll(/^\| `(SW_ERR[A-Z_]*)` \| `(\w+)` \|/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
)

/** An instance of any error class, built without arguments (every class has defaults for them). */
function create(ErrorClass: (typeof errorCodes)[keyof typeof errorCodes]): StreamwayError {
  return new (ErrorClass as new () => StreamwayError)()
}

t.test('every error class carries its code, a fixed name, and extends StreamwayError', (t) => {
  for (const [code, ErrorClass] of Object.entries(errorCodes)) {
    const error = create(ErrorClass)
    t.equal(error.code, code, `${ErrorClass.name} has code ${code}`)
    t.equal(error.name, ErrorClass.name, `${ErrorClass.name} has a fixed name`)
    t.ok(error instanceof StreamwayError && error instanceof Error)
    t.equal(typeof error.message, 'string')
  }
  t.end()
})

t.test('error codes are unique', (t) => {
  const codes = Object.values(errorCodes).map((ErrorClass) => create(ErrorClass).code)
  t.equal(new Set(codes).size, codes.length)
  t.end()
})

t.test('every error class is exported from streamway under its own name', (t) => {
  const exported = streamway as unknown as Record<string, unknown>
  for (const ErrorClass of Object.values(errorCodes)) t.equal(exported[ErrorClass.name], ErrorClass)
  t.end()
})

t.test('docs/errors.md lists exactly the codes of errorCodes, with their classes', (t) => {
  t.same([...documented.keys()].sort(), Object.keys(errorCodes).sort())
  for (const [code, ErrorClass] of Object.entries(errorCodes)) {
    t.equal(documented.get(code), ErrorClass.name, `${code} is documented as ${ErrorClass.name}`)
  }
  t.end()
})

t.test('errors keep their cause', (t) => {
  const cause = new Error('root')
  t.equal(new streamway.AbortError('stopped', { cause }).cause, cause)
  t.equal(new streamway.InvalidOptionError('a', 'b', 1, { cause }).cause, cause)
  t.end()
})
