package verify

import "math"

// decodeCachedClaims is decodeClaims for access_token:{h} values, with a fast path
// for the shape the issuer and the verifiers write: one compact JSON object (no
// blanks), member names and string values of printable ASCII without escapes, and
// members whose values are such strings, arrays of them, whole numbers, true, false
// or null. On that shape it reads the claims in one pass, without the generic walk
// or float parsing; anything else (blanks, escapes, other bytes, nested objects,
// fractions, a repeated name, a malformed document) goes to decodeClaims, so both
// accept and reject exactly the same values (FuzzDecodeCachedClaims checks it).
func decodeCachedClaims(b []byte) (*tokenClaims, error) {
	if c, ok := fastClaims(b); ok {
		return c, nil
	}
	return decodeClaims(b)
}

// maxFastMembers bounds the names compared pairwise for repeats.
const maxFastMembers = 16

// fastClaims reads b when it has the fast path's shape; ok is false otherwise.
func fastClaims(b []byte) (c *tokenClaims, ok bool) {
	var names [maxFastMembers][]byte
	n := len(b)
	if n < 2 || b[0] != '{' || b[n-1] != '}' {
		return nil, false
	}
	c = new(tokenClaims)
	i := 1
	if b[i] == '}' {
		return c, i == n-1
	}
	for m := 0; ; m++ {
		if m == maxFastMembers {
			return nil, false
		}
		name, j, ok := fastString(b, i)
		if !ok || j >= n || b[j] != ':' {
			return nil, false
		}
		for _, prev := range names[:m] {
			if string(prev) == string(name) {
				return nil, false
			}
		}
		names[m] = name
		i = j + 1
		if i >= n {
			return nil, false
		}
		switch string(name) {
		case "iss", "sub", "sid", "email":
			s, j, ok := fastString(b, i)
			if !ok {
				return nil, false
			}
			v := string(s)
			switch string(name) {
			case "iss":
				c.Iss = v
			case "sub":
				c.Sub = v
			case "sid":
				c.Sid = v
			case "email":
				c.Email = v
			}
			i = j
		case "aud":
			if b[i] == '"' {
				s, j, ok := fastString(b, i)
				if !ok {
					return nil, false
				}
				c.Aud, i = audience{string(s)}, j
			} else {
				l, j, ok := fastStrings(b, i)
				if !ok {
					return nil, false
				}
				c.Aud, i = l, j
			}
		case "roles", "amr":
			l, j, ok := fastStrings(b, i)
			if !ok {
				return nil, false
			}
			if string(name) == "roles" {
				c.Roles = l
			} else {
				c.Amr = l
			}
			i = j
		case "exp", "nbf", "iat":
			d, j, ok := fastDate(b, i)
			if !ok {
				return nil, false
			}
			switch string(name) {
			case "exp":
				c.Exp = d
			case "nbf":
				c.Nbf = d
			case "iat":
				c.Iat = d
			}
			i = j
		default:
			j, ok := fastSkip(b, i)
			if !ok {
				return nil, false
			}
			i = j
		}
		if i >= n {
			return nil, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return c, i == n-1
		default:
			return nil, false
		}
	}
}

// fastString reads the string at b[i]: printable ASCII other than '"' and '\'
// between quotes. It returns its contents (aliasing b) and the index after it.
func fastString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch ch := b[j]; {
		case ch == '"':
			return b[i+1 : j], j + 1, true
		case ch < 0x20 || ch > 0x7e || ch == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// fastStrings reads an array of fast strings (possibly empty) at b[i].
func fastStrings(b []byte, i int) ([]string, int, bool) {
	if i >= len(b) || b[i] != '[' {
		return nil, 0, false
	}
	i++
	if i < len(b) && b[i] == ']' {
		return []string{}, i + 1, true
	}
	var l []string
	for {
		s, j, ok := fastString(b, i)
		if !ok || j >= len(b) {
			return nil, 0, false
		}
		l = append(l, string(s))
		switch b[j] {
		case ',':
			i = j + 1
		case ']':
			return l, j + 1, true
		default:
			return nil, 0, false
		}
	}
}

// fastDate reads a NumericDate written as a whole number of seconds below 2^32 (no
// sign, no leading zero, at most ten digits). Such an n times 1e9 is exact in a
// float64, so the result is decodeClaims's int64(float64(n) * 1e9).
func fastDate(b []byte, i int) (numericDate, int, bool) {
	j := i
	var v uint64
	for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i < 11 {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	if j == i || j-i > 10 || b[i] == '0' && j-i > 1 || v > math.MaxUint32 {
		return numericDate{}, 0, false
	}
	return numericDate{set: true, ns: int64(v) * 1e9}, j, true
}

// fastSkip steps over an unknown member's value: a fast string, an array of fast
// strings, a whole number (as fastDate takes it), true, false or null.
func fastSkip(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		_, j, ok := fastString(b, i)
		return j, ok
	case '[':
		_, j, ok := fastStrings(b, i)
		return j, ok
	case 't', 'f', 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				return i + len(lit), true
			}
		}
		return 0, false
	}
	_, j, ok := fastDate(b, i)
	return j, ok
}
