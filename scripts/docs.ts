/**
 * Generates the API reference, docs/api.md, from the doc comments of every
 * export of `effect-circuit` (src/index.ts) and `effect-circuit/testing`
 * (src/testing/index.ts).
 *
 * TypeScript 7 has no JavaScript compiler API, so the types come from its
 * command line: `tsc` emits declaration files (exact signatures, inferred
 * types spelled out, doc comments kept) into node_modules/.cache, and this
 * script reads them with a small parser of the declaration-file layout.
 *
 *   node scripts/docs.ts            write docs/api.md
 *   node scripts/docs.ts --check    fail (exit 1) if docs/api.md is not up to date
 *   node scripts/docs.ts --stdout   print the reference instead of writing it
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const cache = join(root, "node_modules", ".cache", "effect-circuit-docs")
const out = join(cache, "dts")
const target = join(root, "docs", "api.md")

// The entry points documented, in order: every module subpath of the
// package's `exports`, at its source (the `effect-circuit-source` condition).
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly exports: Readonly<Record<string, unknown>>
}
const entries: ReadonlyArray<{ readonly specifier: string; readonly source: string }> = Object.entries(manifest.exports)
  .flatMap(([subpath, target]) => {
    const source = typeof target === "object" && target !== null
      ? (target as Record<string, unknown>)["effect-circuit-source"]
      : undefined
    if (typeof source !== "string") return []
    const specifier = subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`
    return [{ specifier, source: source.replace(/^\.\//, "") }]
  })

// -----------------------------------------------------------------------------
// Declaration emit
// -----------------------------------------------------------------------------

const emitDeclarations = (): void => {
  rmSync(cache, { recursive: true, force: true })
  mkdirSync(cache, { recursive: true })
  const up = relative(cache, root)
  writeFileSync(
    join(cache, "tsconfig.json"),
    JSON.stringify(
      {
        extends: join(up, "tsconfig.json"),
        compilerOptions: {
          noEmit: false,
          declaration: true,
          emitDeclarationOnly: true,
          outDir: "./dts",
          rootDir: join(up, "src"),
          // Unused locals do not matter for the reference.
          noUnusedLocals: false,
          noUnusedParameters: false
        },
        include: entries.map((entry) => join(up, entry.source))
      },
      null,
      2
    )
  )
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
  try {
    execFileSync(process.execPath, [tsc, "-p", join(cache, "tsconfig.json")], { cwd: root, stdio: "pipe" })
  } catch (error) {
    // Type errors do not stop declaration emit; only a missing output does.
    const stdout = String((error as { stdout?: unknown }).stdout ?? "")
    if (!existsSync(join(out, "index.d.ts"))) throw new Error(`tsc emitted no declarations:\n${stdout}`)
  }
}

// -----------------------------------------------------------------------------
// A parser of the declaration files tsc writes
// -----------------------------------------------------------------------------

interface Statement {
  readonly text: string
  readonly doc: string | undefined
}

interface ParsedFile {
  readonly moduleDoc: string | undefined
  readonly statements: ReadonlyArray<Statement>
}

// Brackets opened minus closed on a line, skipping string literals and
// comments (doc comments inside interfaces have apostrophes).
const depthChange = (line: string): number => {
  const trimmed = line.trim()
  if (trimmed.startsWith("*") || trimmed.startsWith("/*") || trimmed.startsWith("//")) return 0
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
      continue
    }
    if (c === "\"" || c === "'" || c === "`") quote = c
    else if (c === "{" || c === "(" || c === "[") depth++
    else if (c === "}" || c === ")" || c === "]") depth--
  }
  return depth
}

const cleanDoc = (lines: ReadonlyArray<string>): string => {
  const body = lines
    .map((line) => line.trim())
    .map((line) => line.replace(/^\/\*\*\s?/, "").replace(/\s?\*\/$/, ""))
    .map((line) => line.replace(/^\* ?/, "").replace(/^\*$/, ""))
  while (body.length > 0 && body[0]!.trim() === "") body.shift()
  while (body.length > 0 && body[body.length - 1]!.trim() === "") body.pop()
  return body.join("\n")
}

const parseFile = (text: string): ParsedFile => {
  const lines = text.split("\n")
  const statements: Array<Statement> = []
  let moduleDoc: string | undefined
  let doc: string | undefined
  let first = true
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === "") continue
    if (line.startsWith("/**")) {
      const docLines = [line]
      while (!lines[i]!.includes("*/")) docLines.push(lines[++i]!)
      // Two doc comments in a row, or one before the imports: the first is the module's.
      if (doc !== undefined && first) moduleDoc = doc
      doc = cleanDoc(docLines)
      continue
    }
    if (line.startsWith("//")) continue
    const statement = [line]
    let depth = depthChange(line)
    while (
      i + 1 < lines.length &&
      (depth > 0 || (!/[;}]\s*$/.test(statement[statement.length - 1]!) && /^\s/.test(lines[i + 1]!)))
    ) {
      const next = lines[++i]!
      statement.push(next)
      depth += depthChange(next)
    }
    const joined = statement.join("\n")
    if (joined.startsWith("import ")) {
      if (doc !== undefined && first) moduleDoc = doc
      doc = undefined
      first = false
      continue
    }
    if (first && doc !== undefined && /^export (\*|\{|type \{)/.test(joined)) {
      moduleDoc = doc
      doc = undefined
    }
    first = false
    statements.push({ text: joined, doc })
    doc = undefined
  }
  if (first && doc !== undefined) moduleDoc = doc
  return { moduleDoc, statements }
}

const fileCache = new Map<string, ParsedFile>()
const dtsOf = (source: string): string => join(out, relative(join(root, "src"), source).replace(/\.ts$/, ".d.ts"))
const load = (source: string): ParsedFile => {
  let parsed = fileCache.get(source)
  if (parsed === undefined) {
    parsed = parseFile(readFileSync(dtsOf(source), "utf8"))
    fileCache.set(source, parsed)
  }
  return parsed
}

// -----------------------------------------------------------------------------
// Exports
// -----------------------------------------------------------------------------

interface Declaration {
  readonly name: string
  readonly kind: "const" | "function" | "class" | "interface" | "type" | "namespace" | "enum"
  /** Every statement of the declaration (function overloads, a class and its `_base`). */
  readonly texts: ReadonlyArray<string>
  readonly doc: string | undefined
  /** Documented static members of a class. */
  readonly statics: ReadonlyArray<{ readonly name: string; readonly text: string; readonly doc: string }>
}

type Resolved =
  | { readonly _tag: "Namespace"; readonly source: string }
  | { readonly _tag: "Declaration"; readonly declaration: Declaration; readonly source: string }

const declarationPattern = /^(?:export )?(?:declare )?(const|function|class|interface|type|namespace|enum) ([A-Za-z_$][\w$]*)/

const resolveSpecifier = (from: string, specifier: string): string => resolve(dirname(from), specifier)

const staticMembers = (text: string): Declaration["statics"] => {
  const members: Array<{ name: string; text: string; doc: string }> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("    /**")) continue
    const docLines = [lines[i]!]
    while (!lines[i]!.includes("*/")) docLines.push(lines[++i]!)
    const head = lines[i + 1]
    const match = head === undefined ? null : /^ {4}static (?:readonly )?([A-Za-z_$][\w$]*)/.exec(head)
    if (match === null) continue
    const member = [head!]
    let depth = depthChange(head!)
    let j = i + 1
    const overload = new RegExp(`^ {4}static ${match[1]!}[(<]`)
    for (;;) {
      while (j + 1 < lines.length && (depth > 0 || !/;\s*$/.test(member[member.length - 1]!))) {
        const next = lines[++j]!
        member.push(next)
        depth += depthChange(next)
      }
      // Overloads follow the documented signature without a doc comment of their own.
      if (j + 1 >= lines.length || !overload.test(lines[j + 1]!)) break
      const next = lines[++j]!
      member.push(next)
      depth = depthChange(next)
    }
    i = j
    members.push({ name: match[1]!, text: member.map((l) => l.slice(4)).join("\n"), doc: cleanDoc(docLines) })
  }
  return members
}

const findDeclaration = (source: string, name: string): Declaration | undefined => {
  const file = load(source)
  const texts: Array<string> = []
  let doc: string | undefined
  let kind: Declaration["kind"] | undefined
  let statics: Declaration["statics"] = []
  for (const statement of file.statements) {
    const match = declarationPattern.exec(statement.text)
    if (match === null || match[2] !== name) continue
    kind ??= match[1] as Declaration["kind"]
    doc ??= statement.doc
    texts.push(statement.text)
    if (match[1] === "class") {
      statics = staticMembers(statement.text)
      // `class X extends X_base`, where tsc declares `X_base` (a name that
      // exists only in the declaration file): show the base's type instead.
      const base = /extends ([A-Za-z_$][\w$]*_base)\b/.exec(statement.text)
      const baseStatement = base === null
        ? undefined
        : file.statements.find((s) => s.text.startsWith(`declare const ${base[1]}:`))
      if (base !== null && baseStatement !== undefined) {
        const baseType = baseStatement.text.slice(`declare const ${base[1]}:`.length).trim().replace(/;$/, "")
        texts[texts.length - 1] = statement.text.replace(new RegExp(`extends ${base[1]}\\b`), `extends ${baseType}`)
      }
    }
  }
  return kind === undefined ? undefined : { name, kind, texts, doc, statics }
}

const namedExports = (text: string): Array<{ readonly local: string; readonly exported: string }> => {
  // (Doc comments may sit inside the braces, one per name.)
  const inner = /\{([^}]*)\}/.exec(text.replace(/\/\*[\s\S]*?\*\//g, ""))?.[1] ?? ""
  return inner.split(",").map((part) => part.trim()).filter((part) => part !== "").map((part) => {
    const [local, exported] = part.replace(/^type /, "").split(/\s+as\s+/)
    return { local: local!, exported: exported ?? local! }
  })
}

// Where a declaration file's import of `local` comes from (one-line imports, as tsc writes them).
const importOf = (source: string, local: string): { readonly name: string; readonly source: string } | undefined => {
  for (const line of readFileSync(dtsOf(source), "utf8").split("\n")) {
    const imported = /^import (?:type )?\{([^}]*)\} from ["'](\.[^"']*)["']/.exec(line)
    if (imported === null) continue
    for (const part of imported[1]!.split(",")) {
      const [name, alias] = part.trim().replace(/^type /, "").split(/\s+as\s+/).map((x) => x.trim())
      if ((alias ?? name) === local && name !== undefined) {
        return { name, source: resolveSpecifier(source, imported[2]!.replace(/\.js$/, ".ts")) }
      }
    }
  }
  return undefined
}

const fromClause = (text: string): string | undefined => /from ["']([^"']+)["']/.exec(text)?.[1]

const resolveExport = (source: string, name: string): Resolved | undefined => {
  const file = load(source)
  const declaration = findDeclaration(source, name)
  if (declaration !== undefined && /^export /.test(declaration.texts[declaration.texts.length - 1]!)) {
    return { _tag: "Declaration", declaration, source }
  }
  for (const statement of file.statements) {
    const text = statement.text
    const from = fromClause(text)
    const star = /^export \* as ([A-Za-z_$][\w$]*) from/.exec(text)
    if (star !== null && star[1] === name && from !== undefined) {
      return { _tag: "Namespace", source: resolveSpecifier(source, from) }
    }
    if (/^export (type )?\{/.test(text)) {
      for (const { exported, local } of namedExports(text)) {
        if (exported !== name) continue
        if (from !== undefined) return resolveExport(resolveSpecifier(source, from), local)
        const found = findDeclaration(source, local)
        if (found !== undefined) return { _tag: "Declaration", declaration: { ...found, name }, source }
        // `import { X } from "./y.ts"` then `export { X }`: X is y's.
        const imported = importOf(source, local)
        if (imported !== undefined) {
          const inner = resolveExport(imported.source, imported.name)
          if (inner !== undefined && inner._tag === "Declaration") {
            return { ...inner, declaration: { ...inner.declaration, name } }
          }
          return inner
        }
      }
    }
  }
  for (const statement of file.statements) {
    const from = fromClause(statement.text)
    if (/^export \* from/.test(statement.text) && from !== undefined) {
      const found = resolveExport(resolveSpecifier(source, from), name)
      if (found !== undefined) return found
    }
  }
  return undefined
}

// Every name a module exports, in source order.
const exportedNames = (source: string): Array<string> => {
  const names: Array<string> = []
  const add = (name: string) => {
    if (!names.includes(name)) names.push(name)
  }
  for (const statement of load(source).statements) {
    const text = statement.text
    if (!text.startsWith("export ")) continue
    const declared = declarationPattern.exec(text)
    if (declared !== null) {
      add(declared[2]!)
      continue
    }
    const star = /^export \* as ([A-Za-z_$][\w$]*) from/.exec(text)
    if (star !== null) {
      add(star[1]!)
      continue
    }
    const from = fromClause(text)
    if (/^export \* from/.test(text) && from !== undefined) {
      for (const name of exportedNames(resolveSpecifier(source, from))) add(name)
      continue
    }
    if (/^export (type )?\{/.test(text)) for (const { exported } of namedExports(text)) add(exported)
  }
  return names
}

// -----------------------------------------------------------------------------
// Markdown
// -----------------------------------------------------------------------------

const tag = (doc: string | undefined, name: string): string | undefined =>
  doc === undefined ? undefined : new RegExp(`^@${name}\\s+(.*)$`, "m").exec(doc)?.[1]?.trim()

const body = (doc: string | undefined): string =>
  doc === undefined ? "" : doc.split("\n").filter((line) => !/^@(since|category)\b/.test(line)).join("\n").trim()

const isInternal = (doc: string | undefined): boolean => doc !== undefined && /^@internal\b/m.test(doc)

// A class declaration up to its body: the first `{` outside brackets, type
// arguments and string literals (the base can be a long generic type).
const classHead = (text: string): string => {
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
      continue
    }
    if (c === "\"" || c === "'" || c === "`") quote = c
    else if (c === "<" || c === "(" || c === "[") depth++
    else if ((c === ">" && text[i - 1] !== "=") || c === ")" || c === "]") depth--
    else if (c === "{") {
      if (depth === 0) return text.slice(0, i).trimEnd()
      depth++
    } else if (c === "}") depth--
  }
  return text.split("\n")[0]!
}

const signature = (declaration: Declaration): string =>
  declaration.texts
    .map((text) => text.replace(/^export /, "").replace(/^declare /, ""))
    .map((text) => {
      // A class: its head; its documented statics are listed on their own.
      if (/^(abstract )?class /.test(text)) return classHead(text)
      return text
    })
    .join("\n")

const anchor = (title: string): string =>
  title.toLowerCase().replace(/[^a-z0-9 -]/g, "").trim().replace(/\s+/g, "-")

const sourceLink = (source: string): string => {
  const path = relative(root, source).split("\\").join("/")
  return `[${path}](../${path})`
}

interface Section {
  readonly title: string
  /** The namespace it documents (`Circuit`), or `undefined` for names exported one by one. */
  readonly namespace: string | undefined
  readonly specifier: string
  readonly source: string
  readonly doc: string | undefined
  readonly members: Array<{ readonly qualified: string; readonly declaration: Declaration; readonly source: string }>
  /** Members of a namespace that are also exported by name, and from where. */
  readonly alsoByName: Array<{ readonly name: string; readonly specifier: string }>
}

// The doc comment that opens a source file, if it documents the module (it
// is followed by the imports, another doc comment, or re-exports).
const moduleDocOf = (source: string): string | undefined => {
  const text = readFileSync(source, "utf8")
  if (!text.startsWith("/**")) return undefined
  const end = text.indexOf("*/")
  const next = text.slice(end + 2).trimStart()
  return /^(import |\/\*\*|export \*|export (type )?\{)/.test(next) || next === ""
    ? cleanDoc(text.slice(0, end + 2).split("\n"))
    : undefined
}

const baseName = (source: string): string => source.split(/[\\/]/).pop()!.replace(/\.ts$/, "")

const renderMember = (qualified: string, declaration: Declaration): Array<string> => {
  const lines: Array<string> = []
  lines.push(`#### \`${qualified}\``, "")
  const since = tag(declaration.doc, "since")
  lines.push("```ts", signature(declaration), "```", "")
  const text = body(declaration.doc)
  if (text !== "") lines.push(text, "")
  if (declaration.doc === undefined) lines.push("*(no doc comment)*", "")
  if (since !== undefined) lines.push(`*Since ${since}*`, "")
  for (const member of declaration.statics) {
    if (isInternal(member.doc)) continue
    lines.push(`#### \`${qualified}.${member.name}\``, "", "```ts", member.text, "```", "")
    const memberText = body(member.doc)
    if (memberText !== "") lines.push(memberText, "")
    const memberSince = tag(member.doc, "since")
    if (memberSince !== undefined) lines.push(`*Since ${memberSince}*`, "")
  }
  return lines
}

const importLine = (section: Section): string => {
  const names = section.namespace !== undefined
    ? [section.namespace]
    : section.members.map((member) => member.qualified)
  return `\`import { ${names.join(", ")} } from "${section.specifier}"\``
}

// -----------------------------------------------------------------------------
// Public names in signatures
// -----------------------------------------------------------------------------

// `export { Options as WithCircuitOptions } from "./withCircuit.ts"` in an
// entry: the declaration is shown, and referred to, by its exported name.
const renames: Array<{ readonly source: string; readonly local: string; readonly exported: string }> = []
const publicTopLevel = new Set<string>()

const collectRenames = (): void => {
  for (const entry of entries) {
    const source = join(root, entry.source)
    for (const name of exportedNames(source)) publicTopLevel.add(name)
    for (const statement of load(source).statements) {
      const from = fromClause(statement.text)
      if (!/^export (type )?\{/.test(statement.text) || from === undefined) continue
      for (const { exported, local } of namedExports(statement.text)) {
        if (exported === local) continue
        const resolved = resolveExport(resolveSpecifier(source, from), local)
        if (resolved !== undefined && resolved._tag === "Declaration") {
          renames.push({ source: resolved.source, local, exported })
        }
      }
    }
  }
}

// A bare identifier (not a property or a qualified name's right side).
const bare = (name: string): RegExp => new RegExp(`(?<![\\w$.])${name.replace(/\$/g, "\\$")}(?![\\w$])`, "g")

// The names a declaration file takes from other files of the package (and
// from which), or declares itself.
interface LocalName {
  readonly local: string
  readonly imported?: { readonly name: string; readonly source: string }
}
const localNamesOf = (source: string): Array<LocalName> => {
  const names: Array<LocalName> = []
  for (const line of readFileSync(dtsOf(source), "utf8").split("\n")) {
    const imported = /^import (?:type )?\{([^}]*)\} from ["'](\.[^"']*)["']/.exec(line)
    if (imported !== null) {
      // The declaration files name `.js`; the sources are the `.ts` beside them.
      const from = resolveSpecifier(source, imported[2]!.replace(/\.js$/, ".ts"))
      for (const part of imported[1]!.split(",")) {
        const [name, local] = part.trim().replace(/^type /, "").split(/\s+as\s+/).map((x) => x.trim())
        if (name !== undefined && name !== "") names.push({ local: local ?? name, imported: { name, source: from } })
      }
    }
    const declared = /^(?:export )?(?:declare )?(?:const|function|class|interface|type|enum) ([A-Za-z_$][\w$]*)/.exec(line)
    if (declared !== null) names.push({ local: declared[1]! })
  }
  return names
}

// `import * as X from "./y.ts"` of a declaration file, for relative paths.
const namespaceImportsOf = (source: string): Array<{ readonly alias: string; readonly source: string }> =>
  readFileSync(dtsOf(source), "utf8").split("\n").flatMap((line) => {
    const match = /^import \* as ([A-Za-z_$][\w$]*) from ["'](\.[^"']*)["']/.exec(line)
    return match === null ? [] : [{ alias: match[1]!, source: resolveSpecifier(source, match[2]!.replace(/\.js$/, ".ts")) }]
  })

// The namespace a source file is exported as, if any (`Breaker` for src/core/Breaker.ts).
const namespaceOf = new Map<string, string>()

const problems: Array<string> = []

// The declaration as a user reads it: renamed exports by their exported
// name; and a name that is not the package's (an internal type, a helper of
// tsc's) is a problem to fix in the source, reported by `npm run docs`.
const publicNames = (section: Section, member: Section["members"][number]): Declaration => {
  const locals = localNamesOf(member.source)
  const fix = (text: string): string => {
    let out = text
    for (const rename of renames) {
      if (rename.source === member.source) out = out.replace(bare(rename.local), rename.exported)
    }
    // A name taken from a module the package exports as a namespace is
    // shown as the user writes it: `StateName` is `Breaker.StateName`; one
    // the package exports under another name, by that name.
    for (const { imported, local } of locals) {
      if (imported === undefined || publicTopLevel.has(local)) continue
      const renamed = renames.find((r) => r.source === imported.source && r.local === imported.name)
      if (renamed !== undefined) {
        out = out.replace(bare(local), renamed.exported)
        continue
      }
      const namespace = namespaceOf.get(imported.source)
      if (namespace !== undefined && namespaceOf.get(member.source) !== namespace) {
        out = out.replace(bare(local), `${namespace}.${imported.name}`)
      }
    }
    // `import * as Registry from "./CircuitRegistry.ts"`: `Registry.X` is
    // shown by the name the package gives X.
    for (const { alias, source } of namespaceImportsOf(member.source)) {
      const namespace = namespaceOf.get(source)
      // The same name, or one the module re-exports (`export { Aimd }`): readable as it is.
      if (namespace === alias || exportedNames(member.source).includes(alias)) continue
      // `class CircuitRegistry extends Registry.CircuitRegistry`, a base the
      // package does not export: show what that base extends.
      out = out.replace(new RegExp(`^((?:export )?(?:declare )?(?:abstract )?class [^\\n]*?extends )${alias}\\.([A-Za-z_$][\\w$]*)`), (whole, head: string, name: string) => {
        const base = findDeclaration(source, name)
        const baseHead = base === undefined || base.kind !== "class" ? undefined : classHead(base.texts[base.texts.length - 1]!)
        const extended = baseHead === undefined ? undefined : /\bextends ([\s\S]*)$/.exec(baseHead)?.[1]
        return extended === undefined ? whole : `${head}${extended}`
      })
      out = out.replace(new RegExp(`(?<![\\w$.])${alias}\\.([A-Za-z_$][\\w$]*)`, "g"), (whole, name: string) => {
        if (namespace !== undefined) return `${namespace}.${name}`
        const renamed = renames.find((r) => r.source === source && r.local === name)
        if (renamed !== undefined) return renamed.exported
        if (publicTopLevel.has(name)) return name
        problems.push(`${member.qualified} (${relative(root, member.source)}): \`${whole}\` is not exported by the package`)
        return whole
      })
    }
    return out
  }
  const declaration: Declaration = {
    ...member.declaration,
    texts: member.declaration.texts.map(fix),
    statics: member.declaration.statics.map((s) => ({ ...s, text: fix(s.text) }))
  }
  const sectionNames = new Set(section.members.map((m) => m.qualified.split(".").pop()!))
  // What the reference shows: a class's head and documented statics, every other declaration whole.
  const shown = [signature(declaration), ...declaration.statics.filter((s) => !isInternal(s.doc)).map((s) => s.text)]
    .join("\n")
    // Doc comments of interface fields are prose, not signatures.
    .replace(/\/\*\*[\s\S]*?\*\//g, "")
  for (const name of new Set(locals.map((l) => l.local))) {
    if (name === member.declaration.name || publicTopLevel.has(name) || sectionNames.has(name)) continue
    if (renames.some((rename) => rename.source === member.source && rename.local === name)) continue
    const imported = locals.find((l) => l.local === name)?.imported
    if (imported !== undefined && renames.some((r) => r.source === imported.source && r.local === imported.name)) continue
    if (bare(name).test(shown)) {
      problems.push(`${member.qualified} (${relative(root, member.source)}): \`${name}\` is not exported by the package`)
    }
  }
  return declaration
}

const renderSection = (section: Section): Array<string> => {
  const lines: Array<string> = [`## ${section.title}`, "", `${importLine(section)} · ${sourceLink(section.source)}`, ""]
  const specifiers = [...new Set(section.alsoByName.map((also) => also.specifier))]
  for (const specifier of specifiers) {
    const names = section.alsoByName.filter((also) => also.specifier === specifier).map((also) => `\`${also.name}\``)
    lines.push(`Also exported by name from \`${specifier}\`: ${names.join(", ")}.`, "")
  }
  const doc = body(section.doc)
  if (doc !== "") lines.push(doc, "")
  const byCategory = new Map<string, Array<Section["members"][number]>>()
  for (const member of section.members) {
    const category = tag(member.declaration.doc, "category") ?? "other"
    const list = byCategory.get(category) ?? []
    list.push(member)
    byCategory.set(category, list)
  }
  const categories = [...byCategory.keys()].sort((a, b) => a === "other" ? 1 : b === "other" ? -1 : a.localeCompare(b))
  for (const category of categories) {
    lines.push(`### ${category}`, "")
    for (const member of byCategory.get(category)!) {
      lines.push(...renderMember(member.qualified, publicNames(section, member)))
    }
  }
  return lines
}

// One section per namespace, and one per source file for what is exported by name.
const sectionsOf = (entry: (typeof entries)[number], sections: Map<string, Section>): void => {
  const source = join(root, entry.source)
  const titled = (title: string) => entry.specifier === "effect-circuit" ? title : `${title} (${entry.specifier})`
  for (const name of exportedNames(source)) {
    const resolved = resolveExport(source, name)
    if (resolved === undefined) throw new Error(`${entry.specifier}: cannot resolve the export ${name}`)
    if (resolved._tag === "Namespace") {
      if (sections.has(resolved.source)) continue
      const members = exportedNames(resolved.source).flatMap((member) => {
        const inner = resolveExport(resolved.source, member)
        if (inner === undefined || inner._tag !== "Declaration" || isInternal(inner.declaration.doc)) return []
        return [{ qualified: `${name}.${member}`, declaration: inner.declaration, source: inner.source }]
      })
      sections.set(resolved.source, {
        title: titled(name),
        namespace: name,
        specifier: entry.specifier,
        source: resolved.source,
        doc: moduleDocOf(resolved.source),
        members,
        alsoByName: []
      })
      continue
    }
    if (isInternal(resolved.declaration.doc)) continue
    // A namespace may re-export a declaration from a file of its own: it is
    // documented there, and can be imported by name too.
    const inNamespace = [...sections.values()].find((section) =>
      section.namespace !== undefined && section.members.some((member) =>
        member.declaration.name === resolved.declaration.name &&
        member.declaration.texts.join("\n") === resolved.declaration.texts.join("\n")
      )
    )
    const existing = inNamespace ?? sections.get(resolved.source)
    if (existing === undefined) {
      sections.set(resolved.source, {
        title: titled(baseName(resolved.source)),
        namespace: undefined,
        specifier: entry.specifier,
        source: resolved.source,
        doc: moduleDocOf(resolved.source),
        members: [{ qualified: name, declaration: resolved.declaration, source: resolved.source }],
        alsoByName: []
      })
    } else if (existing.namespace !== undefined) {
      // Documented in its namespace already: just say it can be imported by name too.
      if (!existing.alsoByName.some((also) => also.name === name && also.specifier === entry.specifier)) {
        existing.alsoByName.push({ name, specifier: entry.specifier })
      }
    } else if (!existing.members.some((member) => member.qualified === name)) {
      existing.members.push({ qualified: name, declaration: resolved.declaration, source: resolved.source })
    }
  }
}

const generate = (): string => {
  emitDeclarations()
  collectRenames()
  const bySource = new Map<string, Section>()
  for (const entry of entries) sectionsOf(entry, bySource)
  for (const section of bySource.values()) {
    if (section.namespace !== undefined) namespaceOf.set(section.source, section.namespace)
  }
  const sections = [...bySource.values()]
  const lines: Array<string> = [
    "# API reference",
    "",
    "<!-- Generated by `npm run docs` (scripts/docs.ts) from the doc comments in src/. Do not edit by hand. -->",
    "",
    `Every export of ${entries.map((entry) => `\`${entry.specifier}\``).join(", ")}, with its signature`,
    "as `tsc` declares it. A subpath that re-exports what another one has is documented once, under",
    "the first; each section says what to import.",
    "",
    "## Contents",
    ""
  ]
  for (const section of sections) lines.push(`- [${section.title}](#${anchor(section.title)})`)
  lines.push("")
  for (const section of sections) lines.push(...renderSection(section))
  if (problems.length > 0) {
    throw new Error(`names that are not the package's in public signatures:\n${[...new Set(problems)].join("\n")}`)
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n"
}

const args = process.argv.slice(2)
const reference = generate()
if (args.includes("--stdout")) {
  process.stdout.write(reference)
} else if (args.includes("--check")) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : ""
  if (current !== reference) {
    console.error("docs/api.md is out of date: run `npm run docs`.")
    process.exit(1)
  }
  console.log("docs/api.md is up to date.")
} else {
  writeFileSync(target, reference)
  console.log(`wrote ${relative(root, target)}`)
}
