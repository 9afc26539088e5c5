package version_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/internal/version"
)

func ExampleRequested() {
	fmt.Println(version.Requested([]string{"serve", "--version"}))
	fmt.Println(version.Requested([]string{"serve", "--listen", ":8080"}))
	// Output:
	// true
	// false
}
