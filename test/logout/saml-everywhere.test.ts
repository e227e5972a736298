import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { samlInstant } from "../../src/saml/xml.js";
import {
  ALICE,
  SLO_PATH,
  idpLogoutRequestXml,
  samlSignIn,
  signedPostLogout,
  signedRedirectLogout,
  startTwoSamlInstances,
  type TwoSamlInstances,
} from "./support.js";

// Two instances share one Redis prefix. Alice is signed in at A in one browser and at B in
// another. An IdP LogoutRequest then reaches one instance in a third browser, as Entra sends it.

let instances: TwoSamlInstances;

beforeEach(async () => {
  instances = await startTwoSamlInstances();
});

afterEach(async () => {
  await instances.close();
});

function now(): string {
  return samlInstant(instances.a.clock.now());
}

function sloEvents(harnessAudit: { events(): Array<Record<string, unknown>> }) {
  return harnessAudit.events().filter((event) => event.event === "logout" && event.kind === "slo");
}

describe("IdP LogoutRequest across instances", () => {
  it("ends both sessions from a Redirect request at A", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);

    const res = await a
      .http()
      .get(signedRedirectLogout(idpLogoutRequestXml("_lo1", ALICE.objectId, now())));
    expect(res.status).toBe(302);

    expect((await a.session(atA.browser)).status).toBe(401);
    expect((await b.session(atB.browser)).status).toBe(401);
    expect((await a.session(atB.browser)).status).toBe(401);
    expect(sloEvents(a.audit)).toHaveLength(2);
    const metrics = await a.signIn.services.metrics.registry.metrics();
    expect(metrics).toContain('federated_signin_logouts_total{connection="entra",kind="slo"} 2');
  });

  it("ends both sessions from a POST request at B", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);

    const res = await b
      .http()
      .post(SLO_PATH)
      .type("form")
      .send({
        SAMLRequest: signedPostLogout(idpLogoutRequestXml("_lo2", ALICE.objectId, now()), "_lo2"),
      });
    expect(res.status).toBe(302);

    expect((await a.session(atA.browser)).status).toBe(401);
    expect((await b.session(atB.browser)).status).toBe(401);
  });

  it("ends only the session a SessionIndex names", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);

    const xml = idpLogoutRequestXml("_lo3", ALICE.objectId, now(), [atB.sessionIndex]);
    expect((await a.http().get(signedRedirectLogout(xml))).status).toBe(302);

    expect((await a.session(atA.browser)).status).toBe(200);
    expect((await b.session(atB.browser)).status).toBe(401);
  });

  it("keeps sessions of another NameID", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);

    const xml = idpLogoutRequestXml("_lo4", "someone-else", now());
    expect((await a.http().get(signedRedirectLogout(xml))).status).toBe(302);

    expect((await a.session(atA.browser)).status).toBe(200);
    expect((await b.session(atB.browser)).status).toBe(200);
  });

  it("rejects a replayed LogoutRequest at the other instance", async () => {
    const { a, b } = instances;
    const path = signedRedirectLogout(idpLogoutRequestXml("_lo5", ALICE.objectId, now()));
    expect((await a.http().get(path)).status).toBe(302);

    // Alice signs in again; the captured request must not sign her out a second time.
    const atB = await samlSignIn(b, a);
    const replay = await b.http().get(path).set("Accept", "application/json");
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe("SAML_LOGOUT_REPLAYED");
    expect((await b.session(atB.browser)).status).toBe(200);
  });

  it("rejects a replayed POST LogoutRequest", async () => {
    const { a, b } = instances;
    const form = {
      SAMLRequest: signedPostLogout(idpLogoutRequestXml("_lo6", ALICE.objectId, now()), "_lo6"),
    };
    expect((await a.http().post(SLO_PATH).type("form").send(form)).status).toBe(302);
    const atA = await samlSignIn(a, a);
    const replay = await b
      .http()
      .post(SLO_PATH)
      .type("form")
      .set("Accept", "application/json")
      .send(form);
    expect(replay.body.error).toBe("SAML_LOGOUT_REPLAYED");
    expect((await a.session(atA.browser)).status).toBe(200);
  });

  it.each([
    ["older than the accepted window", -(10 * 60_000 + 3 * 60_000 + 1_000)],
    ["issued in the future", 3 * 60_000 + 1_000],
  ])("rejects a LogoutRequest %s", async (_label, offsetMs) => {
    const { a, b } = instances;
    const atB = await samlSignIn(b, a);
    const instant = samlInstant(a.clock.now() + offsetMs);
    const res = await a
      .http()
      .get(signedRedirectLogout(idpLogoutRequestXml("_lo7", ALICE.objectId, instant)))
      .set("Accept", "application/json");
    expect(res.body.error).toBe("SAML_LOGOUT_INVALID");
    expect((await b.session(atB.browser)).status).toBe(200);
  });

  it("rejects an unsigned LogoutRequest and keeps the sessions", async () => {
    const { a, b } = instances;
    const atB = await samlSignIn(b, a);
    const xml = idpLogoutRequestXml("_lo8", ALICE.objectId, now());
    const res = await a
      .http()
      .post(SLO_PATH)
      .type("form")
      .set("Accept", "application/json")
      .send({ SAMLRequest: Buffer.from(xml).toString("base64") });
    expect(res.body.error).toBe("SAML_LOGOUT_INVALID");
    expect((await b.session(atB.browser)).status).toBe(200);
  });
});

describe("POST /logout across instances", () => {
  it("ends the session at the other instance", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    expect((await b.session(atA.browser)).status).toBe(200);

    const res = await a
      .http()
      .post("/logout")
      .set("Cookie", atA.browser.header())
      .set("Accept", "application/json");
    expect(res.body.loggedOut).toBe(true);

    expect((await b.session(atA.browser)).status).toBe(401);
    expect((await a.session(atA.browser)).status).toBe(401);
  });

  it("keeps the user's other sessions without idp=1", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);
    await a
      .http()
      .post("/logout")
      .set("Cookie", atA.browser.header())
      .set("Accept", "application/json");
    expect((await b.session(atB.browser)).status).toBe(200);
  });

  it("ends every session of the user with idp=1", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    const atB = await samlSignIn(b, a);
    const res = await a
      .http()
      .post("/logout?idp=1")
      .set("Cookie", atA.browser.header())
      .set("Accept", "application/json");
    expect(new URL(res.body.redirect as string).searchParams.get("SAMLRequest")).toBeTruthy();

    expect((await b.session(atB.browser)).status).toBe(401);
    const kinds = a.audit
      .events()
      .filter((event) => event.event === "logout")
      .map((event) => event.kind);
    expect(kinds).toEqual(["idp", "idp"]);
  });

  it("does not let a request in flight revive an ended session", async () => {
    const { a, b } = instances;
    const atA = await samlSignIn(a, a);
    // A request at A reads the session (and moves its idle timer, so the session is written
    // back at the end), then waits while B ends the session.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readIdentity: string | undefined;
    a.app.use(async (ctx) => {
      if (ctx.path !== "/test/slow") return;
      readIdentity = a.signIn.identity(ctx)?.id;
      await released;
      ctx.body = "done";
    });
    a.clock.advance(2 * 60_000);
    const slow = a
      .http()
      .get("/test/slow")
      .set("Cookie", atA.browser.header())
      .then((res) => res);
    while (readIdentity === undefined) await new Promise((resolve) => setTimeout(resolve, 5));

    const xml = idpLogoutRequestXml("_lo9", ALICE.objectId, now());
    expect((await b.http().get(signedRedirectLogout(xml))).status).toBe(302);
    release();
    expect((await slow).status).toBe(200);

    expect((await b.session(atA.browser)).status).toBe(401);
    expect((await a.session(atA.browser)).status).toBe(401);
  });
});
