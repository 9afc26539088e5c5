package issue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// softKey is a WebAuthn authenticator in software for the API tests: one ES256
// credential, "none" attestation, the flags and the signature counter under the
// test's control, and the client data a browser would add (origin, challenge). The
// Chromium tests (e2e) use the browser's own virtual authenticator.
type softKey struct {
	t          testing.TB
	key        *ecdsa.PrivateKey
	id         []byte
	userHandle []byte // set by register from the options' user.id
	rpID       string // what the authenticator hashes into authData
	origin     string // what the "browser" puts in clientDataJSON
	count      uint32 // the next signature counter (incremented after each use)
	uv, be     bool   // user verified, backup eligible
}

func newSoftKey(t testing.TB, rpID, origin string) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{t: t, key: k, id: id, rpID: rpID, origin: origin, count: 1, uv: true}
}

var b64u = base64.RawURLEncoding

// challengeOf reads the challenge (and, for a registration, the user handle) from
// the options the issuer handed out.
func (k *softKey) challengeOf(options []byte) string {
	k.t.Helper()
	var o struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.Challenge == "" {
		k.t.Fatalf("options %s: %v", options, err)
	}
	if o.User.ID != "" {
		h, err := b64u.DecodeString(o.User.ID)
		if err != nil {
			k.t.Fatalf("user.id %q: %v", o.User.ID, err)
		}
		k.userHandle = h
	}
	return o.Challenge
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	flags := byte(0x01) // UP
	if k.uv {
		flags |= 0x04
	}
	if k.be {
		flags |= 0x08
	}
	if attested {
		flags |= 0x40
	}
	b := append(h[:], flags)
	b = binary.BigEndian.AppendUint32(b, k.count)
	if attested {
		b = append(b, make([]byte, 16)...) // AAGUID: none
		b = binary.BigEndian.AppendUint16(b, uint16(len(k.id)))
		b = append(b, k.id...)
		cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
			PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
			Curve:         1, // P-256
			XCoord:        k.key.PublicKey.X.FillBytes(make([]byte, 32)),
			YCoord:        k.key.PublicKey.Y.FillBytes(make([]byte, 32)),
		})
		if err != nil {
			k.t.Fatal(err)
		}
		b = append(b, cose...)
	}
	return b
}

// register answers registration options as navigator.credentials.create would, and
// counts.
func (k *softKey) register(options []byte) []byte {
	k.t.Helper()
	ch := k.challengeOf(options)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(true)})
	if err != nil {
		k.t.Fatal(err)
	}
	k.count++
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(k.clientData("webauthn.create", ch)),
			"attestationObject": b64u.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return b
}

// assert answers sign-in options as navigator.credentials.get would, and counts.
func (k *softKey) assert(options []byte) []byte {
	k.t.Helper()
	return k.assertChallenge(k.challengeOf(options))
}

func (k *softKey) assertChallenge(challenge string) []byte {
	k.t.Helper()
	cd := k.clientData("webauthn.get", challenge)
	ad := k.authData(false)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	k.count++
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(cd),
			"authenticatorData": b64u.EncodeToString(ad),
			"signature":         b64u.EncodeToString(sig),
			"userHandle":        b64u.EncodeToString(k.userHandle),
		},
	})
	return b
}
