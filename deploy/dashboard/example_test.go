package dashboard_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/deploy/dashboard"
)

func ExampleBuild() {
	d, err := dashboard.Build()
	if err != nil {
		panic(err)
	}
	fmt.Println(*d.Uid, *d.Title)
	// Output: vexen-auth vexen-auth
}
