// Package strictjson reads JSON objects the way a security boundary needs them read:
// member names match byte for byte, and a name given twice in the same object is an
// error, not "the last one wins".
//
// encoding/json and goccy/go-json both match a member to a struct field ignoring case
// ("ROLES" fills Roles) and keep the last of two members with the same name. Two
// parsers of one token or request body can then disagree about what it says, and an
// attacker chooses which one each believes. [Members] walks an object once, rejects
// duplicated names at every depth and hands each top-level member to the caller, who
// switches on the exact name:
//
//	err := strictjson.Members(b, func(name, value []byte) error {
//		switch string(name) {
//		case "sub":
//			c.Sub, err = strictjson.String(value)
//		}
//		return err
//	})
//
// The verifier decodes JOSE headers and claims this way; the issuer checks request
// bodies and its own tokens with it before encoding/json decodes them.
package strictjson
