import { createWriteStream, type WriteStream } from "node:fs";
import type { Clock } from "../clock.js";

/** One audit event; written as one JSON line. Never contains a token, assertion or cookie. */
export type AuditEvent =
  | {
      event: "sign_in_succeeded";
      connection: string;
      protocol: string;
      user: string;
      clientIp?: string;
      smartPatient?: string;
      smartEncounter?: string;
    }
  | {
      event: "sign_in_failed";
      connection: string;
      protocol: string;
      code: string;
      clientIp?: string;
    }
  | {
      event: "smart_launch";
      connection: string;
      user: string;
      fhirBaseUrl: string;
      patient?: string;
      encounter?: string;
      clientIp?: string;
    }
  | {
      event: "logout";
      connection: string;
      user: string;
      /**
       * local: POST /logout; idp: POST /logout?idp=1, which also ends the user's other sessions
       * and starts IdP logout; slo: a SAML LogoutRequest from the IdP; backchannel: an OIDC
       * back-channel logout token.
       */
      kind: "local" | "idp" | "slo" | "backchannel";
      clientIp?: string;
    };

/** Destination of audit lines. */
export interface AuditSink {
  write(line: string): void;
  close(): Promise<void>;
}

/** Writes audit events as JSON lines with a timestamp. */
export class AuditLog {
  constructor(
    private readonly sink: AuditSink,
    private readonly clock: Clock,
  ) {}

  record(event: AuditEvent): void {
    const line = JSON.stringify({ time: new Date(this.clock.now()).toISOString(), ...event });
    this.sink.write(`${line}\n`);
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

/** Sink that writes to standard output. */
export const stdoutSink: AuditSink = {
  write: (line) => {
    process.stdout.write(line);
  },
  close: async () => {},
};

/** Sink that discards every line (tests, `audit.sink: none`). */
export const discardSink: AuditSink = { write: () => {}, close: async () => {} };

/** Sink that appends to a file. */
export function fileSink(path: string): AuditSink {
  const stream: WriteStream = createWriteStream(path, { flags: "a", mode: 0o640 });
  return {
    write: (line) => {
      stream.write(line);
    },
    close: () => new Promise((resolve) => stream.end(resolve)),
  };
}

/** Sink that keeps lines in memory, for tests. */
export class MemorySink implements AuditSink {
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }

  events(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async close(): Promise<void> {}
}
