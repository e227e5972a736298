// Benchmark child: a closed-loop HTTP load generator on keep-alive connections. Each of
// `connections` loops send one GET, wait for the reply, repeat, until `durationMs` is over.
import http from "node:http";
import { percentile, serveCommands } from "./lib.js";

function getOnce(agent, url, headers) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode ?? 0));
      response.on("error", reject);
    });
    request.on("error", reject);
  });
}

serveCommands({
  async run({ url, cookie, connections, durationMs, warmupMs }) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
    const headers = cookie ? { cookie } : {};
    const latenciesMs = [];
    const statuses = {};
    let measuring = false;
    const startedAt = performance.now();
    const stopAt = startedAt + warmupMs + durationMs;
    let measureStart = 0;
    let completed = 0;
    setTimeout(() => {
      measuring = true;
      measureStart = performance.now();
    }, warmupMs);
    async function lane() {
      while (performance.now() < stopAt) {
        const sent = performance.now();
        const status = await getOnce(agent, url, headers);
        if (!measuring) continue;
        latenciesMs.push(performance.now() - sent);
        statuses[status] = (statuses[status] ?? 0) + 1;
        completed += 1;
      }
    }
    await Promise.all(Array.from({ length: connections }, lane));
    const elapsedS = (performance.now() - measureStart) / 1000;
    agent.destroy();
    latenciesMs.sort((a, b) => a - b);
    return {
      requests: completed,
      requestsPerSecond: completed / elapsedS,
      p50Ms: percentile(latenciesMs, 50),
      p99Ms: percentile(latenciesMs, 99),
      maxMs: latenciesMs[latenciesMs.length - 1],
      statuses,
    };
  },
});
process.send({ type: "ready" });
