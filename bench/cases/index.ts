/**
 * Every group of benchmark cases `bench/suite.ts` runs. Add a group by
 * writing it in a file of its own and listing it here.
 */
import { core } from "./core.ts"
import { peers } from "./peers.ts"
import { promise } from "./promise.ts"
import { tracing } from "./tracing.ts"
import type { CaseGroup } from "./types.ts"

export const groups: ReadonlyArray<CaseGroup> = [core, peers, tracing, promise]
