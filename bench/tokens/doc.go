// Package tokens mints the access tokens of the load benchmark that the issuer's
// login endpoint cannot produce fast enough: the hundreds of thousands of never-seen
// tokens of the "cold" scenario (ES256, signed with the issuer's own key) and the
// million of the memory measurement (HS256, with the deployment's shared secret).
//
// A token is minted from a Template: a real token the issuer minted at login, whose
// protected header is reused byte for byte and whose claims are copied, with only
// the subject, session, email, token id and times replaced. A minted token therefore
// differs from one the issuer would mint for the same session only in its jti and
// signature, and every session it names must exist in the store (the harness
// creates them in bulk).
package tokens
