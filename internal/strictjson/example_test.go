package strictjson_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/internal/strictjson"
)

func Example() {
	for _, doc := range []string{
		`{"sub":"alice","roles":["dev"]}`,
		`{"sub":"alice","ROLES":["admin"]}`,
		`{"sub":"alice","sub":"admin"}`,
	} {
		var sub string
		err := strictjson.Members([]byte(doc), func(name, value []byte) error {
			var err error
			switch string(name) {
			case "sub":
				sub, err = strictjson.String(value)
			case "roles":
				fmt.Printf("roles %s\n", value)
			}
			return err
		})
		fmt.Printf("sub %q, err %v\n", sub, err)
	}
	// Output:
	// roles ["dev"]
	// sub "alice", err <nil>
	// sub "alice", err <nil>
	// sub "alice", err strictjson: duplicated member name
}
