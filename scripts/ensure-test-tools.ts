/**
 * Runs before `npm test` (the `pretest` script): makes sure the Debian tools
 * that some tests drive for real are there, so that `npm install` then
 * `npm test` is all a fresh machine needs.
 *
 * | tool | Debian package | test |
 * | --- | --- | --- |
 * | `chromium` (or `CHROMIUM_PATH`) | `chromium` | test/dashboard.test.ts drives the dashboard page |
 * | `promtool` | `prometheus` | test/metrics-conventions.test.ts checks a real scrape and the alerting rules |
 * | `redis-server` | `redis-server` | the fleet tests start their own server on loopback |
 *
 * - A tool already present: nothing to do.
 * - Otherwise, on Linux as root with apt-get: installs the missing packages in one `apt-get install`.
 * - Otherwise: stops and says what to install. These tests never skip.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"

const onPath = (command: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const chromium = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const tools: ReadonlyArray<{ readonly name: string; readonly pkg: string; readonly present: () => boolean }> = [
  { name: chromium, pkg: "chromium", present: () => existsSync(chromium) },
  { name: "promtool", pkg: "prometheus", present: () => onPath("promtool") },
  { name: "redis-server", pkg: "redis-server", present: () => onPath("redis-server") }
]

const missing = tools.filter((tool) => !tool.present())
if (missing.length > 0) {
  const packages = missing.map((tool) => tool.pkg)
  const canApt = process.platform === "linux" && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get")
  if (!canApt) {
    console.error(
      `Some tests need ${missing.map((tool) => tool.name).join(", ")}. ` +
        `Install Debian's ${packages.join(" ")} (apt-get install -y ${packages.join(" ")})` +
        (missing.some((tool) => tool.pkg === "chromium") ? ", or set CHROMIUM_PATH to a Chromium or Chrome binary." : ".")
    )
    process.exit(1)
  }
  console.log(`Installing Debian's ${packages.join(", ")} for the tests that drive them...`)
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update"], { stdio: "inherit", env })
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], { stdio: "inherit", env })
  const still = missing.filter((tool) => !tool.present())
  if (still.length > 0) {
    console.error(`apt-get finished but ${still.map((tool) => tool.name).join(", ")} is still missing`)
    process.exit(1)
  }
}
