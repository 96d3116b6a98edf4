// Package delivery sends one-time codes and magic links to users: email
// over SMTP (SMTP), SMS through a Twilio-compatible API (Twilio), email or
// SMS as signed Authsignal "email.created" / "sms.created" webhook events
// (Webhook), and, for development only, to the log (Log). New picks them
// from a Config; Templates renders the localised text.
//
// The invariants callers rely on:
//
//   - Sending is synchronous. SendEmail and SendSMS return nil only once
//     the provider has accepted the message (SMTP: the reply to the end of
//     DATA; HTTP providers: a 2xx answer), and every failure is returned,
//     never swallowed or retried here, so nothing is sent twice behind the
//     caller's back.
//   - A failure never loses the challenge: this package keeps no state and
//     never modifies the Message, so the caller, which created and stored
//     the challenge before sending, keeps it and can send again.
//   - Every returned error satisfies errors.Is(err, ErrDelivery), a
//     *vigil.Error whose message is safe to show ("could not be
//     delivered"); a Message that cannot be sent as given (a malformed
//     recipient, a line break aimed at a header) also satisfies
//     errors.Is(err, ErrInvalidMessage), which errors.As finds first.
//   - Errors never contain passwords, tokens, signing secrets, codes or
//     links; nothing here logs except Log, which writes codes and links on
//     purpose, at WARN, after warning once that it does.
//   - The Log sender is what New selects only when neither channel has a
//     provider; a channel left without one when the other has one fails
//     every send instead.
//   - Every sender is safe for concurrent use, and every network operation
//     is bounded by the context and the sender's timeout.
//
// Messages are rendered from templates embedded in the binary, in English,
// German, French and Spanish, which an operator may override or extend from
// a directory (see NewTemplates). A locale is matched exactly ("pt-BR"),
// then by language ("pt"), then by another locale of the same language
// ("pt-PT" for "pt-BR"), and falls back to English.
package delivery
