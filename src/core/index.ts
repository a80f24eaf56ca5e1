/**
 * The pure core: the rolling window and the breaker state machine. Nothing
 * here imports the Effect runtime.
 *
 * @since 0.1.0
 */
export * as Breaker from "./Breaker.ts"
export * as BreakerConfig from "./BreakerConfig.ts"
export * as Window from "./Window.ts"
export * as Limit from "./Limit.ts"
