// Drives the official @authsignal/node SDK, unchanged, against a running
// Vigil server. compat_test.go starts the server and runs this script with
// VIGIL_API_URL, VIGIL_SERVER_SECRET, VIGIL_CHALLENGE_ACTION (an action whose
// configured default outcome is CHALLENGE) set. Any failed assertion exits
// non-zero with a message.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Authsignal, AuthsignalError } from "@authsignal/node";

const apiUrl = process.env.VIGIL_API_URL;
const apiSecretKey = process.env.VIGIL_SERVER_SECRET;
const challengeAction = process.env.VIGIL_CHALLENGE_ACTION;
assert.ok(apiUrl && apiSecretKey && challengeAction, "VIGIL_API_URL, VIGIL_SERVER_SECRET and VIGIL_CHALLENGE_ACTION must be set");

const authsignal = new Authsignal({ apiSecretKey, apiUrl, retries: 0 });
const steps = [];
async function step(name, fn) {
  await fn();
  steps.push(name);
  console.log(`ok - ${name}`);
}

const userId = randomUUID();
const email = `${userId}@example.com`;

await step("updateUser upserts and echoes attributes", async () => {
  const user = await authsignal.updateUser({
    userId,
    attributes: { email, emailVerified: true, phoneNumber: "9876543210", phoneNumberVerified: false, username: `u-${userId}`, displayName: "Ada", custom: { foo: "bar" } },
  });
  assert.equal(user.email, email);
  assert.equal(user.emailVerified, true);
  assert.equal(user.phoneNumber, "9876543210");
  assert.equal(user.phoneNumberVerified, false);
  assert.equal(user.displayName, "Ada");
  assert.equal(user.custom.foo, "bar");
});

await step("getUser reports attributes and isEnrolled:false", async () => {
  const user = await authsignal.getUser({ userId });
  assert.equal(user.isEnrolled, false);
  assert.equal(user.email, email);
  assert.equal(user.emailVerified, true);
});

await step("queryUsers finds the user by email, read-after-write", async () => {
  const res = await authsignal.queryUsers({ email });
  assert.equal(res.users.length, 1);
  assert.equal(res.users[0].userId, userId);
  assert.equal(res.lastEvaluatedUserId, undefined);
});

let authenticatorId;
await step("enrollVerifiedAuthenticator (SMS) returns the wrapped authenticator", async () => {
  const res = await authsignal.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: "SMS", phoneNumber: "+6427000000" } });
  assert.ok(res.authenticator.userAuthenticatorId);
  assert.equal(res.authenticator.userId, userId);
  assert.equal(res.authenticator.verificationMethod, "SMS");
  assert.equal(res.authenticator.phoneNumber, "+6427000000");
  authenticatorId = res.authenticator.userAuthenticatorId;
});

await step("getAuthenticators lists it and getUser is enrolled", async () => {
  const list = await authsignal.getAuthenticators({ userId });
  assert.equal(list.length, 1);
  assert.equal(list[0].userAuthenticatorId, authenticatorId);
  const user = await authsignal.getUser({ userId });
  assert.equal(user.isEnrolled, true);
  assert.deepEqual(user.enrolledVerificationMethods, ["SMS"]);
});

await step("track of an unconfigured action is ALLOW with a token and a url", async () => {
  const res = await authsignal.track({ userId, action: `signIn-${Date.now()}`, attributes: { ipAddress: "203.0.113.1", userAgent: "Mozilla/5.0", deviceId: "device-abc" } });
  assert.equal(res.state, "ALLOW");
  assert.match(res.token, /^eyJ/);
  assert.ok(res.url.includes("?"), "url must already carry a query string");
  assert.ok(res.idempotencyKey);
  assert.equal(res.isEnrolled, true);
});

let idempotencyKey;
let trackToken;
await step("track of a CHALLENGE action is CHALLENGE_REQUIRED", async () => {
  const res = await authsignal.track({ userId, action: challengeAction, attributes: { redirectUrl: "https://app.example.com/callback", custom: { amount: 250 } } });
  assert.equal(res.state, "CHALLENGE_REQUIRED");
  assert.equal(res.isEnrolled, true);
  assert.deepEqual(res.enrolledVerificationMethods, ["SMS"]);
  idempotencyKey = res.idempotencyKey;
  trackToken = res.token;
});

await step("track with an idempotencyKey replays the same response; another payload is refused", async () => {
  const key = randomUUID();
  const attributes = { idempotencyKey: key, ipAddress: "203.0.113.9", custom: { amount: 10 } };
  const first = await authsignal.track({ userId, action: challengeAction, attributes });
  const again = await authsignal.track({ userId, action: challengeAction, attributes });
  assert.equal(first.idempotencyKey, key);
  assert.equal(again.idempotencyKey, key);
  assert.equal(again.token, first.token);
  assert.equal(again.state, first.state);
  await assert.rejects(
    authsignal.track({ userId, action: challengeAction, attributes: { ...attributes, custom: { amount: 11 } } }),
    (err) => err instanceof AuthsignalError && err.statusCode === 422,
  );
});

await step("getAction returns the state and an output object", async () => {
  const action = await authsignal.getAction({ userId, action: challengeAction, idempotencyKey });
  assert.equal(action.state, "CHALLENGE_REQUIRED");
  assert.equal(typeof action.output, "object");
  assert.notEqual(action.output, null);
  assert.ok(action.createdAt);
});

await step("validateChallenge on an unfinished challenge is isValid:false with the state", async () => {
  const res = await authsignal.validateChallenge({ token: trackToken });
  assert.equal(res.isValid, false);
  assert.equal(res.state, "CHALLENGE_REQUIRED");
  assert.equal(res.userId, userId);
  assert.equal(res.action, challengeAction);
});

await step("validateChallenge on garbage is isValid:false", async () => {
  const res = await authsignal.validateChallenge({ token: "invalid-token" });
  assert.equal(res.isValid, false);
});

await step("updateAction sets the state; validate succeeds once", async () => {
  const updated = await authsignal.updateAction({ userId, action: challengeAction, idempotencyKey, attributes: { state: "CHALLENGE_SUCCEEDED" } });
  assert.equal(updated.state, "CHALLENGE_SUCCEEDED");
  const first = await authsignal.validateChallenge({ token: trackToken, userId, action: challengeAction });
  assert.equal(first.isValid, true);
  assert.equal(first.state, "CHALLENGE_SUCCEEDED");
  assert.equal(first.idempotencyKey, idempotencyKey);
  const replay = await authsignal.validateChallenge({ token: trackToken });
  assert.equal(replay.isValid, false);
});

await step("updateAction to REVIEW_REQUIRED is visible in getAction and queryUserActions", async () => {
  const updated = await authsignal.updateAction({ userId, action: challengeAction, idempotencyKey, attributes: { state: "REVIEW_REQUIRED" } });
  assert.equal(updated.state, "REVIEW_REQUIRED");
  const action = await authsignal.getAction({ userId, action: challengeAction, idempotencyKey });
  assert.equal(action.state, "REVIEW_REQUIRED");
  const actions = await authsignal.queryUserActions({ userId, actionCodes: [challengeAction] });
  assert.equal(actions.length, 2); // this one and the idempotency step's
  assert.ok(actions.every((a) => a.actionCode === challengeAction));
  assert.equal(actions.find((a) => a.idempotencyKey === idempotencyKey).state, "REVIEW_REQUIRED");
  const reviews = await authsignal.queryUserActions({ userId, actionCodes: [challengeAction], state: "REVIEW_REQUIRED" });
  assert.deepEqual(reviews.map((a) => a.idempotencyKey), [idempotencyKey]);
  const none = await authsignal.queryUserActions({ userId, actionCodes: [challengeAction], state: "ALLOW" });
  assert.equal(none.length, 0);
});

await step("deleteAuthenticator empties the list", async () => {
  await authsignal.deleteAuthenticator({ userId, userAuthenticatorId: authenticatorId });
  const list = await authsignal.getAuthenticators({ userId });
  assert.equal(list.length, 0);
});

await step("deleteUser leaves an unenrolled user without attributes", async () => {
  await authsignal.deleteUser({ userId });
  const user = await authsignal.getUser({ userId });
  assert.equal(user.isEnrolled, false);
  assert.equal(user.email, undefined);
});

await step("a wrong secret is a 401 with the exact error", async () => {
  const bad = new Authsignal({ apiSecretKey: "not-the-secret", apiUrl, retries: 0 });
  await assert.rejects(bad.getUser({ userId: randomUUID() }), (err) => {
    assert.ok(err instanceof AuthsignalError);
    assert.equal(err.statusCode, 401);
    assert.equal(err.errorCode, "unauthorized");
    assert.equal(err.errorDescription, "The request is unauthorized. Check that your API key and region base URL are correctly configured.");
    return true;
  });
});

console.log(`${steps.length} passed, 0 failed`);
