// Package verify is the verifier's decision core: given what a proxy asks about a
// request (method, host, path, client, and the access token from the
// Authorization header or the cookie), it answers allow (with the identity headers)
// or deny (401, 403), or "cannot decide" (an error, answered with 503).
package verify
