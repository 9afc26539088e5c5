// Package verifytest helps test code that verifies vexen access tokens, the way
// net/http/httptest helps test HTTP code: signing keys and a JWKS server, a token
// minter that can also forge every hostile variant (alg none, a key embedded in the
// header, a made-up kid…), and in-memory stand-ins for the session store and for
// Redis (with a revocation feed the test drives by hand).
//
// It does not import package verify, so verify's own tests can use it.
package verifytest
