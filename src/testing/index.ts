/**
 * `effect-circuit/testing`: check that your circuit settings behave as you
 * want, with properties. The pure simulation (`simulate`, `outageTrace`,
 * `outageReport`, ..., also exported from the package root as `Simulation`)
 * and fast-check arbitraries (`traceArbitrary`, `outageArbitrary`,
 * `settingsArbitrary`).
 *
 * **Details**
 *
 * This entry point imports `fast-check` (an optional peer dependency);
 * install it to use it. See `docs/testing.md` and
 * `examples/property-testing-your-settings.ts`.
 *
 * @since 0.1.0
 */
export * from "./Arbitraries.ts"
export * from "./Simulation.ts"
