import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { IDP_KEY, buildSignedResponse } from "../support/saml-harness.js";
import { AttackHarness, FIRST } from "./attack-harness.js";

const LIMIT = 16 * 1024;

describe("ACS body size limit", () => {
  let harness: AttackHarness;
  beforeEach(async () => {
    harness = await AttackHarness.start({ connections: { [FIRST]: { maxResponseSize: LIMIT } } });
  });
  afterEach(async () => {
    await harness.close();
  });

  /** Builds a form body of exactly `size` bytes around a valid response, padded by a `pad` field. */
  async function formOfSize(size: number) {
    const { requestId, cookies } = await harness.login(FIRST);
    const xml = buildSignedResponse(harness.fields(FIRST, requestId), IDP_KEY);
    const base = `SAMLResponse=${encodeURIComponent(Buffer.from(xml).toString("base64"))}&pad=`;
    expect(base.length).toBeLessThan(size);
    return { cookies, body: base + "x".repeat(size - base.length) };
  }

  it("accepts a body of exactly maxResponseSize", async () => {
    const { cookies, body } = await formOfSize(LIMIT);
    const res = await harness
      .http()
      .post(`/saml/${FIRST}/acs`)
      .set("Cookie", cookies.header())
      .type("form")
      .send(body);
    expect(res.status).toBe(303);
  });

  it("rejects a body one byte over maxResponseSize", async () => {
    const { cookies, body } = await formOfSize(LIMIT + 1);
    const res = await harness
      .http()
      .post(`/saml/${FIRST}/acs`)
      .set("Cookie", cookies.header())
      .set("Accept", "application/json")
      .type("form")
      .send(body);
    expect(res.status).toBe(413);
    expect(res.body.error).toBe("BODY_TOO_LARGE");
    expect((await harness.session(cookies)).status).toBe(401);
  });

  it("rejects a chunked body over maxResponseSize", async () => {
    const { cookies, body } = await formOfSize(LIMIT * 4);
    const server = http.createServer(harness.app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: `/saml/${FIRST}/acs`,
            headers: {
              "Content-Type": "application/x-www-form-urlencoded",
              "Transfer-Encoding": "chunked",
              Accept: "application/json",
              Cookie: cookies.header(),
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        // The server may close the socket before the last chunk; only the status matters.
        req.on("error", (error) => (error.message.includes("EPIPE") ? undefined : reject(error)));
        for (let offset = 0; offset < body.length; offset += 4096) {
          req.write(body.slice(offset, offset + 4096));
        }
        req.end();
      });
      expect(status).toBe(413);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect((await harness.session(cookies)).status).toBe(401);
  });
});
