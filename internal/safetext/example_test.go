package safetext_test

import (
	"fmt"

	"github.com/vexen/vexen-auth/internal/safetext"
)

func Example() {
	ua := "curl/8.5\x1b[2J\u202egnp.exe\u0085 C:\\tmp café"
	fmt.Println(safetext.Escape(ua))
	fmt.Println(safetext.Escape("Mozilla/5.0 (X11; Linux x86_64)"))
	// Output:
	// curl/8.5\x1b[2J\u202egnp.exe\u0085 C:\\tmp café
	// Mozilla/5.0 (X11; Linux x86_64)
}
