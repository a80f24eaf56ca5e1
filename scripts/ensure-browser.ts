/**
 * Runs before `npm test` (the `pretest` script): makes sure the headless
 * browser that the dashboard test drives is there, so that `npm install`
 * then `npm test` is all a fresh machine needs.
 *
 * - `CHROMIUM_PATH`, or Debian's `/usr/bin/chromium`, if present: nothing to do.
 * - Otherwise, on Linux as root with apt-get: installs Debian's `chromium`.
 * - Otherwise: stops with what to install. The browser test never skips.
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"

const path = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
if (!existsSync(path)) {
  const canApt = process.platform === "linux" && process.getuid?.() === 0 && existsSync("/usr/bin/apt-get")
  if (!canApt) {
    console.error(
      `The dashboard test needs a Chromium at ${path}. Install Debian's chromium (apt-get install -y chromium) ` +
        "or set CHROMIUM_PATH to a Chromium or Chrome binary."
    )
    process.exit(1)
  }
  console.log("Installing Debian's chromium for the dashboard test (apt-get install -y chromium)...")
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  execFileSync("apt-get", ["update"], { stdio: "inherit", env })
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], { stdio: "inherit", env })
  if (!existsSync(path)) {
    console.error(`apt-get finished but there is no ${path}`)
    process.exit(1)
  }
}
