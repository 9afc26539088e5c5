package rediscache

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestLookupCallKeys: the keys a lookup cuts from one string are AccessKey and
// RevokedKey, with and without a prefix.
func TestLookupCallKeys(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, prefix := range []string{"", "p:", "{x}"} {
		c := New(rdb, Options{Prefix: prefix})
		var call lookupCall
		call.reset(c, "abc")
		if call.keys[0] != c.AccessKey("abc") || call.keys[1] != c.RevokedKey("abc") {
			t.Errorf("prefix %q: keys %q, want %q, %q", prefix, call.keys, c.AccessKey("abc"), c.RevokedKey("abc"))
		}
		if call.args[0] != "mget" || *call.args[1].(*string) != call.keys[0] || *call.args[2].(*string) != call.keys[1] {
			t.Errorf("prefix %q: args %v", prefix, call.args)
		}
	}
}
