package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"

	"github.com/vexen/vexen-auth/pkg/audit"
)

func Example() {
	var buf bytes.Buffer
	log := audit.New(&buf) // os.Stdout, or a file from audit.OpenFile
	ctx := audit.WithClient(context.Background(), audit.Client{IP: netip.MustParseAddr("192.0.2.7"), Via: "api"})
	log.Record(ctx, audit.Event{Event: audit.EventLogin, Result: audit.Failure, Reason: "wrong_password", UserID: "u1"})
	// The time varies: hide it.
	fmt.Fprint(os.Stdout, regexp.MustCompile(`"time":"[^"]*"`).ReplaceAllString(buf.String(), `"time":"…"`))
	// Output:
	// {"time":"…","level":"INFO","audit":true,"event":"login","result":"failure","reason":"wrong_password","user_id":"u1","client_ip":"192.0.2.7","via":"api"}
}
