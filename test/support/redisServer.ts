/**
 * A real redis-server for a test: Debian's binary on a free loopback port,
 * persistence off, in a temporary directory; stopped (and the directory
 * removed) by `stop`. `kill`/`freeze`/`thaw`/`restart` let fleet tests take
 * the server away the way production loses it.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** SIGKILL: the server dies at once, connections drop. */
  readonly kill: () => Promise<void>
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  readonly freeze: () => void
  /** SIGCONT. */
  readonly thaw: () => void
  /** Starts a new server on the same port (after `kill`); its memory starts empty. */
  readonly restart: () => Promise<void>
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    let answer = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(200, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data) => {
      answer += data.toString()
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"))
    })
  })

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

export const startRedis = async (): Promise<RedisServer> => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
  } catch (error) {
    throw new Error(`the fleet tests need redis-server on PATH (apt-get install -y redis-server): ${String(error)}`)
  }
  const dir = mkdtempSync(join(tmpdir(), "effect-circuit-redis-"))
  let child: ChildProcess | undefined
  let port = 0
  const launch = async (): Promise<void> => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"],
      { stdio: "ignore" }
    )
    // A test or benchmark that dies without calling stop() leaves no server behind.
    const orphan = child
    process.once("exit", () => orphan.kill("SIGKILL"))

    const started = Date.now()
    while (!(await ping(port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} on port ${port}`)
      if (Date.now() - started > 10_000) throw new Error("redis-server did not start within 10 s")
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  for (let attempt = 0;; attempt++) {
    port = await freePort()
    try {
      await launch()
      break
    } catch (error) {
      child?.kill("SIGKILL")
      if (attempt === 4) throw error
    }
  }
  const kill = async () => {
    const c = child!
    c.kill("SIGKILL")
    await exited(c)
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    freeze: () => child!.kill("SIGSTOP"),
    thaw: () => child!.kill("SIGCONT"),
    restart: launch,
    stop: async () => {
      child!.kill("SIGCONT")
      await kill()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
