/** Options of {@link runDemo}. */
export interface DemoOptions {
  port: number;
}

// Replaced once the demo identity providers land.
export async function runDemo(_options: DemoOptions): Promise<void> {
  throw new Error("the demo is not built yet");
}
