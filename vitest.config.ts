import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          testTimeout: 30_000
        }
      },
      {
        test: {
          name: "property",
          include: ["property-tests/**/*.test.ts"],
          testTimeout: 300_000
        }
      }
    ]
  }
})
