// Package echo is the upstream application of the proxy end-to-end tests: an HTTP
// handler that answers every request with 200 and a JSON description of the request
// it received (method, URI, host and every header), and counts the requests that
// reached it.
//
// Placed behind nginx, Traefik or Caddy with a vexen-auth sample config, it shows
// exactly what the protected application would see: the identity headers the proxy
// set (X-Auth-User, X-Auth-Email, X-Auth-Roles, X-Auth-Session) and whether any
// header a client forged made it through. Its hit counter proves that a denied
// request never reached the application at all.
package echo
