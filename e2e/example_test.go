package e2e_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/e2e"
)

func ExampleRender() {
	sample := "upstream vexen_verifier { server 127.0.0.1:8081; keepalive 16; }\nserver { listen 80; }\n"
	conf, err := e2e.Render(sample,
		e2e.Replacement{Old: "127.0.0.1:8081", New: "127.0.0.1:41234"},
		e2e.Replacement{Old: "listen 80;", New: "listen 127.0.0.1:41235;"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(conf)
	// Output:
	// upstream vexen_verifier { server 127.0.0.1:41234; keepalive 16; }
	// server { listen 127.0.0.1:41235; }
}
