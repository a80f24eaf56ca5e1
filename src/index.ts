export * from "./errors.ts"
export * from "./core/index.ts"
