import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import request from "supertest";
import { createApp } from "../../src/http/create-sign-in.js";
import { createLogger } from "../../src/logger.js";
import { RedisStore } from "../../src/session/redis-store.js";
import { freePort } from "../session/helpers.js";
import { IDP_KEY, buildSignedResponse, samlConfig } from "../support/saml-harness.js";
import { startTwoSamlInstances, type TwoSamlInstances } from "../logout/support.js";

describe("two instances sharing Redis", () => {
  let pair: TwoSamlInstances;

  beforeEach(async () => {
    pair = await startTwoSamlInstances();
  });

  afterEach(async () => {
    await pair.close();
  });

  it("sign-in started at A completes at B", async () => {
    const { requestId, cookies } = await pair.a.login("/chart");
    const response = buildSignedResponse(pair.a.fields(requestId), IDP_KEY);
    const res = await pair.b.postResponse(response, cookies);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe("https://signin.example.org/chart");
    expect((await pair.a.session(cookies)).status).toBe(200);
    expect((await pair.b.session(cookies)).status).toBe(200);
  });

  it("response consumed at A is a replay at B", async () => {
    const { requestId, cookies } = await pair.a.login();
    const response = buildSignedResponse(pair.a.fields(requestId), IDP_KEY);
    expect((await pair.a.postResponse(response, cookies)).status).toBe(303);
    const replay = await pair.b.postResponse(response, cookies);
    expect(replay.body.error).toBe("SAML_REPLAYED");
  });

  it("racing posts of one response sign in once", async () => {
    const { requestId, cookies } = await pair.a.login();
    const response = buildSignedResponse(pair.a.fields(requestId), IDP_KEY);
    const results = await Promise.all([
      pair.a.postResponse(response, cookies),
      pair.b.postResponse(response, cookies),
      pair.a.postResponse(response, cookies),
      pair.b.postResponse(response, cookies),
    ]);
    const accepted = results.filter((res) => res.status === 303);
    expect(accepted).toHaveLength(1);
    for (const res of results.filter((result) => result.status !== 303)) {
      expect(res.body.error).toBe("SAML_REPLAYED");
    }
  });
});

describe("Redis unavailable", () => {
  it("answers 503 and fails readiness without crashing", async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: "fs-down:" });
    const { app, signIn } = await createApp(samlConfig({}), {
      store,
      logger: createLogger("silent"),
    });
    try {
      const ready = await request(app.callback()).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.problems[0].component).toBe("store");

      const login = await request(app.callback())
        .get("/saml/entra/login")
        .set("Accept", "application/json");
      expect(login.status).toBe(503);
      expect(login.body.error).toBe("STORE_UNAVAILABLE");

      const health = await request(app.callback()).get("/healthz");
      expect(health.status).toBe(200);
    } finally {
      await signIn.close();
    }
  });
});
